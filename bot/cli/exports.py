"""`candor answers`: a brand's answers as a file, the same bytes the export API sends.

A command of its own because `candor export BRAND SUBJECT` is one subject's record (Art. 15);
this is the brand's whole data set, which it owns and takes elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from sqlalchemy import func, select

from bot.cli.common import console, known, open_runtime
from storage import exports
from storage.exports import Format, Layout
from storage.schema import Answer


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
) -> None:
    """Export a brand's answers (consent in force only): CSV safe to open in a spreadsheet,
    JSON Lines or Parquet. See docs/insights.md, Exports."""
    runtime = open_runtime()
    known(runtime, brand)
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
