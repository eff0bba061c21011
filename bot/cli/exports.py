"""`candor answers`: a brand's answers as a file, the same bytes the export API sends.

A command of its own because `candor export BRAND SUBJECT` is one subject's record (Art. 15);
this is the brand's whole data set, which it owns and takes elsewhere. It takes the results
report's filters, checked the same way as the API checks them.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from sqlalchemy import func, select

from bot.cli.common import console, fail, known, open_runtime
from storage import exports, results
from storage.exports import Format, Layout
from storage.schema import Answer

Day = Annotated[
    datetime | None, typer.Option(formats=["%Y-%m-%d"], help="UTC day, YYYY-MM-DD, included.")
]


def answers(
    brand: str,
    format: Annotated[Format, typer.Option("--format")] = "csv",
    layout: Annotated[
        Layout,
        typer.Option(
            help="responses: one row per response, one column per question; "
            "answers: one row per answer.",
        ),
    ] = "responses",
    out: Annotated[
        Path | None, typer.Option(help="Write here (default: BRAND-LAYOUT.FORMAT).")
    ] = None,
    since: Day = None,
    until: Day = None,
    channel: Annotated[
        str | None, typer.Option(help="Only answers given on: web, api, cli, slack, telegram.")
    ] = None,
    flow_version: Annotated[
        int | None, typer.Option(help="Only answers given in this flow version.")
    ] = None,
    segment: Annotated[
        str | None, typer.Option(help="Only the members of this segment (k people or more).")
    ] = None,
) -> None:
    """Export a brand's answers (consent in force only): CSV safe to open in a spreadsheet,
    JSON Lines or Parquet, filtered as the results report is. See docs/insights.md, Exports."""
    runtime = open_runtime()
    known(runtime, brand)
    filters = results.Filters(
        since.date() if since else None,
        until.date() if until else None,
        channel,
        flow_version,
        segment,
    )
    try:
        with console.status("Checking the filters…", spinner="dots"):
            members = exports.members_of(runtime.audiences, brand, filters)
    except results.InvalidFilter as exc:
        raise fail(f"filter {exc.field}: {exc.reason}") from None
    target = out or Path(exports.filename(brand, layout, format))
    with runtime.stores.brand(brand) as session:
        total = session.scalar(select(func.count()).select_from(Answer)) or 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"Exporting {brand}", total=total)
        body = exports.stream(
            runtime.stores,
            brand,
            layout=layout,
            fmt=format,
            flows_of=lambda version: runtime.flow(brand, version),
            filters=filters,
            members=members,
            progress=lambda n: progress.update(task, completed=n),
        )
        try:
            with target.open("wb") as file:
                for chunk in body:
                    file.write(chunk)
        except BaseException:
            target.unlink(missing_ok=True)  # half a file would read as the whole export
            raise
    console.print(f"[green]✓[/] {brand}: {layout} written to {target} ({format})")


def register(app: typer.Typer) -> None:
    app.command()(answers)
