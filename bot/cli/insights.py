"""`candor` commands for insights: segments, content library, insights, purchase import."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table

from actions.runtime import Runtime
from bot.cli.common import console, err, fail, known, open_runtime, print_errors
from bot.cli.transactions_csv import CsvInvalid, read_mapping, read_purchases
from bot.pseudonym import subject_id
from bot.settings import load_settings
from consent_flows.audiences import ContentLibrary, Segments, check_content, check_segments
from consent_flows.loader import FlowInvalid, load_document
from storage import commerce, insights, registry
from storage.registry import StaleVersion
from storage.segments import purposes_allowing


def _publish(runtime: Runtime, brand: str, kind: str, path: Path) -> None:
    flow = runtime.flow(brand)
    source = path.read_text(encoding="utf-8")
    doc: Segments | ContentLibrary
    try:
        if kind == "segments":
            doc = load_document(
                source, Segments, source=str(path), check=lambda s: check_segments(s, flow)
            )
        else:
            segments, _ = runtime.audiences.documents(brand)
            doc = load_document(
                source, ContentLibrary, source=str(path), check=lambda c: check_content(c, segments)
            )
    except FlowInvalid as exc:
        print_errors(exc.errors)
        raise typer.Exit(1) from None
    if doc.brand != brand:
        raise fail(f"the file is for '{doc.brand}', not '{brand}'")
    with runtime.stores.registry() as session:
        try:
            registry.publish_document(
                session, brand=brand, kind=kind, version=doc.version, source=source
            )
        except StaleVersion as exc:
            raise fail(str(exc)) from None
        session.commit()
    console.print(f"[green]✓[/] {brand}: {kind} version {doc.version} published")


def segments(
    brand: str,
    publish: Annotated[
        Path | None, typer.Option(help="Validate and publish a segments file first.")
    ] = None,
) -> None:
    """Show a brand's segments and their sizes (only those with at least k members)."""
    runtime = open_runtime()
    known(runtime, brand)
    if publish:
        _publish(runtime, brand, "segments", publish)
    audience = runtime.audiences.compute(brand, fresh=True)
    if audience is None:
        err.print(f"{brand} has no segments; publish a file with --publish")
        raise typer.Exit(1)
    # The figures the API publishes, through the same suppression: a terminal is no safer
    # a place to learn that two people are outside a segment.
    figures = insights.segment_figures(audience)
    eligible = figures["eligible"]
    table = Table(
        title=f"{brand}: segments of at least {audience.min_size} people "
        f"({_figure(eligible)} consenting subjects)"
    )
    table.add_column("segment")
    table.add_column("description")
    table.add_column("size", justify="right")
    for name, size in sorted(figures["sizes"].items()):
        table.add_row(name, audience.descriptions[name], str(size))
    console.print(table)
    if figures["suppressed"]:
        console.print(
            f"Not shown (a size that would describe, or give away, fewer than "
            f"{audience.min_size} people): " + ", ".join(figures["suppressed"])
        )
    console.print(f"Membership fingerprint: {audience.fingerprint}")


def _figure(value: object) -> str:
    """A figure the report hid (it would describe, or give away, fewer than k people)."""
    return "hidden" if value is None else str(value)


def content(
    brand: str,
    publish: Annotated[Path, typer.Option(help="Validate and publish a content library file.")],
) -> None:
    """Publish a brand's content library (items targeted at segments and tags)."""
    runtime = open_runtime()
    known(runtime, brand)
    _publish(runtime, brand, "content", publish)


def insights_command(brand: str) -> None:
    """Summarise a brand's insights: funnel, consent rates, themes, segments."""
    runtime = open_runtime()
    known(runtime, brand)
    with console.status("Analysing answers (themes, segments)…"):
        report = insights.compute(runtime.audiences, brand, fresh=True)
    funnel = Table(title="Funnel")
    for column in ("step", "reached", "answered", "skipped", "dropped"):
        funnel.add_column(column, justify="right" if column != "step" else "left")
    for step in report["funnel"]:
        funnel.add_row(
            step["step"],
            *(_figure(step[c]) for c in ("reached", "answered", "skipped", "dropped")),
        )
    if report.get("pilot"):
        console.print(report["pilot"]["message"])
    console.print(funnel)
    for purpose, rates in report["consent"].items():
        console.print(
            f"consent {purpose}: given {_figure(rates['given'])}, "
            f"refused {_figure(rates['refused'])}, withdrawn {_figure(rates['withdrawn'])}, "
            f"rate {_figure(rates['rate'])}"
        )
    several = len(report.get("theme_languages") or []) > 1
    for theme in report["themes"]:
        where = f"({theme['language']}) " if several else ""
        console.print(
            f"theme {where}[bold]{theme['label']}[/] ({theme['size']}): "
            + " | ".join(theme["quotes"])
        )
    for name, reasons in report.get("hidden_fields", {}).get("dropped", {}).items():
        # Values a page sent that the flow does not take (docs/flows.md, "Hidden fields").
        counts = ", ".join(f"{why} {count}" for why, count in sorted(reasons.items()))
        console.print(f"hidden field {name} dropped: {counts}", markup=False)


def import_transactions(
    brand: str,
    file: Path,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="CSV of customer_id,channel,user_id: which of your customers is which chat user."
        ),
    ] = None,
) -> None:
    """Import purchases (CSV); only customers who consented to linking them are kept."""
    runtime = open_runtime()
    known(runtime, brand)
    settings = load_settings()
    try:
        links = read_mapping(mapping) if mapping else []
        purchases = read_purchases(file)
    except CsvInvalid as exc:
        print_errors(exc.errors)
        err.print("[red]Nothing was imported.[/] Fix the rows above and run again.")
        raise typer.Exit(1) from None
    flow = runtime.flow(brand)
    linking = purposes_allowing(flow, "purchase_linking")
    if not linking:
        raise fail(
            f"{brand}'s flow has no purpose that allows "
            "'purchase_linking', so no customer can have agreed to it; nothing imported"
        )
    with runtime.stores.brand(brand) as session:
        linked = sum(
            commerce.link(
                session,
                key=commerce.customer_key(settings.key, brand, cid),
                subject_id=subject_id(settings.key, brand=brand, channel=channel, user_id=uid),
            )
            for cid, channel, uid in links
        )
        with Progress(console=console) as progress:
            task = progress.add_task("Importing purchases", total=len(purchases))
            report = commerce.import_purchases(
                session,
                purchases,
                secret=settings.key,
                brand=brand,
                linking_purposes=linking,
                progress=lambda: progress.advance(task),
            )
        session.commit()
    console.print(
        f"[green]✓[/] {report.imported} purchase(s) imported (batch "
        f"{report.batch_id}); {report.no_consent} skipped without consent, "
        f"{report.not_linked} for customers not linked; {linked} link(s) recorded."
    )


def register(app: typer.Typer) -> None:
    app.command()(segments)
    app.command()(content)
    app.command("insights")(insights_command)
    app.command("import-transactions")(import_transactions)
