"""`candor flows validate|graph|preview|publish|versions|diff|promote|rollback|preview-link`: a
brand's flow file checked, drawn, tried without storing anything (bot/cli/preview.py), made live
or kept as a draft, its history listed and compared, a draft promoted, an old version restored."""

from __future__ import annotations

import getpass
import json
import shutil
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from bot.cli.common import console, err, fail, print_errors
from bot.cli.preview import flows_preview
from bot.settings import load_settings
from consent_flows import graph
from consent_flows.loader import FlowInvalid, load_flow_file
from consent_flows.model import Flow
from nlu.privacy_lint import Finding, PrivacyInvalid, check_file
from storage.stores import Stores, UnknownBrand

app = typer.Typer(help="Check and publish brand flows.", no_args_is_help=True)

GRAPH_FORMATS = ("mermaid", "dot", "svg", "png")
GRAPH_SUFFIXES = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot"}
GRAPH_TIMEOUT_S = 60


@app.command("validate")
def flows_validate(
    paths: list[Path],
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Check flow files: the consent proof and the privacy linter, every finding with
    file:line:column and a hint. Exit 1 on any error (warnings alone do not fail)."""
    report = [_check(path, text=output == "text") for path in paths]
    if output == "json":
        valid = all(item["valid"] for item in report)
        typer.echo(json.dumps({"valid": valid, "files": report}, indent=2))
    if not all(item["valid"] for item in report):
        raise typer.Exit(1)


def _check(path: Path, *, text: bool) -> dict[str, Any]:
    """One file's entry of the JSON report; with `text`, its lines are printed as well."""
    try:
        checked = check_file(path)
    except FlowInvalid as exc:
        warnings = exc.warnings if isinstance(exc, PrivacyInvalid) else []
        if text:
            print_errors(exc.errors)
            _print_warnings(warnings)
        return {
            "file": str(path),
            "valid": False,
            "errors": [asdict(e) for e in exc.errors],
            "warnings": [asdict(w) for w in warnings],
        }
    flow = checked.flow
    if text:
        _print_warnings(checked.warnings)
        console.print(
            f"[green]✓[/] {path}: {flow.brand}/{flow.id} v{flow.version}, "
            f"{len(flow.steps)} steps, consent proven on every path, privacy checks passed",
            highlight=False,
        )
    return {
        "file": str(path),
        "valid": True,
        "brand": flow.brand,
        "flow": flow.id,
        "version": flow.version,
        "errors": [],
        "warnings": [asdict(w) for w in checked.warnings],
    }


def _print_warnings(warnings: list[Finding]) -> None:
    for warning in warnings:
        err.print(f"[yellow]![/] {escape(str(warning))}", highlight=False, soft_wrap=True)


@app.command("graph")
def flows_graph(
    path: Path,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write to this file (needed for svg and png)."),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help="mermaid, dot, svg or png. Default: from the --out suffix, else mermaid.",
        ),
    ] = None,
) -> None:
    """Draw a flow: consent gates, branches and every path, as Mermaid, DOT, SVG or PNG.

    SVG and PNG are drawn on this machine by Graphviz's `dot`; nothing is downloaded.
    """
    fmt = _graph_format(fmt, out)
    try:
        flow = load_flow_file(path)
    except FlowInvalid as exc:
        print_errors(exc.errors)
        raise typer.Exit(1) from None
    if fmt in ("mermaid", "dot"):
        text = graph.to_mermaid(flow) if fmt == "mermaid" else graph.to_dot(flow)
        if out is None:
            typer.echo(text, nl=False)
        else:
            _write(out, text)
        return
    assert out is not None  # _graph_format asks for --out with svg and png
    _write(out, _draw(flow, fmt, out))


def _graph_format(fmt: str | None, out: Path | None) -> str:
    if fmt is None:
        suffix = out.suffix.lower().lstrip(".") if out else ""
        fmt = GRAPH_SUFFIXES.get(f".{suffix}", suffix if suffix in GRAPH_FORMATS else "mermaid")
    fmt = fmt.lower()
    if fmt not in GRAPH_FORMATS:
        raise typer.BadParameter(
            f"'{fmt}' is not one of: {', '.join(GRAPH_FORMATS)}", param_hint="'--format'"
        )
    if out is None and fmt in ("svg", "png"):
        raise typer.BadParameter(
            f"{fmt} is written to a file: add --out FILE", param_hint="'--out'"
        )
    return fmt


def _draw(flow: Flow, fmt: str, out: Path) -> bytes:
    """The flow drawn by Graphviz; without Graphviz, the Mermaid text is saved and we say how
    to install it."""
    dot = shutil.which("dot")
    if dot is None:
        mermaid_path = out.with_suffix(".mmd")
        _write(mermaid_path, graph.to_mermaid(flow))
        raise fail(
            f"cannot draw {fmt}: Graphviz's 'dot' is not installed. Install it "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz) and run "
            f"this again. The Mermaid text is in {escape(str(mermaid_path))}."
        )
    try:
        result = subprocess.run(
            [dot, f"-T{fmt}"],
            input=graph.to_dot(flow).encode(),
            capture_output=True,
            timeout=GRAPH_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise fail(
            f"Graphviz took over {GRAPH_TIMEOUT_S}s to draw the flow; "
            "try --format dot and render it yourself"
        ) from None
    except OSError as exc:
        raise fail(f"cannot run {escape(dot)} ({exc.strerror})") from None
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        raise fail(f"Graphviz could not draw the flow: {escape(detail)}")
    return result.stdout


def _write(target: Path, data: str | bytes) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            target.write_bytes(data)
        else:
            target.write_text(data, encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {escape(str(target))} ({exc.strerror})") from None
    console.print(f"[green]✓[/] wrote {escape(str(target))}", highlight=False)


app.command("preview")(flows_preview)


def cli_user() -> str:
    """Who runs the command, for `published_by`: the login (getpass reads $LOGNAME/$USER, then
    the password database), never a customer."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = "unknown user"
    return f"{user} (CLI)"[:100]


@app.command("publish")
def flows_publish(
    path: Path,
    draft: Annotated[
        bool,
        typer.Option(
            "--draft",
            help="Keep it as a draft: validated, never served to customers until promoted.",
        ),
    ] = False,
) -> None:
    """Validate a flow and publish it as its brand's new live version (no restart needed).

    With --draft it is kept as a draft instead: customers keep the live version until you run
    `candor flows promote BRAND VERSION`. Publishing a draft's file again without --draft
    promotes it.
    """
    from bot.brands import publish_flow_source
    from storage.registry import StaleVersion

    stores = load_settings().open_stores()
    try:
        # Bytes, so that invalid UTF-8 gets the loader's message (byte offset, line, hint).
        source = path.read_bytes()
        brand = _brand_line(source.decode("utf-8", errors="replace"))
        flow, row = publish_flow_source(
            stores, brand=brand, source=source, origin=str(path), draft=draft, by=cli_user()
        )
    except FlowInvalid as exc:
        print_errors(exc.errors)
        raise fail("not published; the live version is unchanged") from None
    except UnknownBrand as exc:
        raise fail(
            f"there is no brand named '{exc.brand}'; create it with `candor brands create FLOW`"
        ) from None
    except (OSError, ValueError, StaleVersion) as exc:
        raise fail(f"{exc}; the live version is unchanged") from None
    if row.draft:
        console.print(
            f"[green]✓[/] {flow.brand}/{flow.id} v{row.version} saved as a draft; customers "
            f"keep the live version. Promote it with `candor flows promote {flow.brand} "
            f"{row.version}`, or try it with `candor flows preview-link {flow.brand} "
            f"{row.version}`",
            highlight=False,
        )
        return
    console.print(
        f"[green]✓[/] {flow.brand}/{flow.id} v{row.version} is live; new "
        "conversations use it now, ongoing ones finish on their version"
    )


def _known_brand(stores: Stores, brand: str) -> None:
    from storage import registry

    with stores.registry() as session:
        if registry.get_brand(session, slug=brand) is None:
            raise fail(f"there is no brand named '{escape(brand)}'; see `candor brands list`")


@app.command("versions")
def flows_versions(
    brand: str,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """List every version of a brand's flow: drafts, the live one, who published each, when."""
    from rich.table import Table

    from storage import registry

    stores = load_settings().open_stores()
    _known_brand(stores, brand)
    with stores.registry() as session:
        live = registry.latest_flow(session, brand=brand)
        live_number = live.version if live is not None else None
        rows = [
            {
                "version": row.version,
                "state": "draft" if row.draft else "live" if row.version == live_number else "",
                "published_at": row.published_at.isoformat(timespec="seconds"),
                "published_by": row.published_by,
                "rolled_back_from": row.rolled_back_from,
            }
            for row in registry.list_versions(session, brand=brand)
        ]
    if output == "json":
        typer.echo(json.dumps({"brand": brand, "live": live_number, "versions": rows}, indent=2))
        return
    table = Table(title=f"Flow versions of {escape(brand)}")
    for column in ("version", "state", "published", "by", "note"):
        table.add_column(column)
    for item in rows:
        note = f"rollback to v{item['rolled_back_from']}" if item["rolled_back_from"] else ""
        table.add_row(
            str(item["version"]),
            str(item["state"]),
            str(item["published_at"]),
            escape(str(item["published_by"]) or "-"),
            note,
        )
    console.print(table)


@app.command("diff")
def flows_diff(brand: str, old: int, new: int) -> None:
    """A unified diff of two versions' YAML sources (nothing printed when they are the same)."""
    from storage import registry
    from storage.registry import UnknownFlowVersion

    stores = load_settings().open_stores()
    _known_brand(stores, brand)
    try:
        with stores.registry() as session:
            text = registry.diff_versions(session, brand=brand, old=old, new=new)
    except UnknownFlowVersion as exc:
        raise fail(f"{exc}; see `candor flows versions {escape(brand)}`") from None
    typer.echo(text, nl=False)


@app.command("promote")
def flows_promote(brand: str, version: int) -> None:
    """Make a draft the live version now; conversations under way keep theirs."""
    from storage import registry
    from storage.registry import UnknownFlowVersion, VersionConflict

    stores = load_settings().open_stores()
    _known_brand(stores, brand)
    try:
        with stores.registry() as session:
            registry.promote(session, brand=brand, version=version, by=cli_user())
            session.commit()
    except UnknownFlowVersion as exc:
        raise fail(f"{exc}; see `candor flows versions {escape(brand)}`") from None
    except VersionConflict as exc:
        raise fail(escape(str(exc))) from None
    console.print(
        f"[green]✓[/] {escape(brand)} v{version} is live; new conversations use it now, "
        "ongoing ones finish on their version",
        highlight=False,
    )


@app.command("rollback")
def flows_rollback(brand: str, version: int) -> None:
    """Roll back to an earlier version: publish a copy of it as a NEW live version.

    Nothing is rewritten: the versions in between stay in the history, and conversations under
    way keep the version they began on. The copy's `version:` line is renumbered.
    """
    from bot.brands import rollback_flow
    from storage.registry import UnknownFlowVersion, VersionConflict

    stores = load_settings().open_stores()
    _known_brand(stores, brand)
    try:
        row = rollback_flow(stores, brand=brand, version=version, by=cli_user())
    except UnknownFlowVersion as exc:
        raise fail(f"{exc}; see `candor flows versions {escape(brand)}`") from None
    except FlowInvalid as exc:
        print_errors(exc.errors)
        raise fail(
            f"version {version} no longer passes today's checks; the live version is unchanged"
        ) from None
    except VersionConflict as exc:
        raise fail(escape(str(exc))) from None
    console.print(
        f"[green]✓[/] {escape(brand)} v{row.version} is live: a copy of v{version}; new "
        "conversations use it now, ongoing ones finish on their version",
        highlight=False,
    )


@app.command("preview-link")
def flows_preview_link(
    brand: str,
    version: int,
    hours: Annotated[int, typer.Option(min=1, max=168, help="How long the link works.")] = 24,
) -> None:
    """A signed link to try a version (usually a draft) in the widget, storing nothing.

    The page is clearly marked as a preview; anyone with the link can open it until it expires.
    It points at CANDOR_PUBLIC_URL (or the local gateway).
    """
    from bot.gateway.routes.admin import preview_link_for
    from storage.registry import UnknownFlowVersion

    settings = load_settings()
    stores = settings.open_stores()
    _known_brand(stores, brand)
    try:
        made = preview_link_for(stores, settings, brand, version, hours)
    except UnknownFlowVersion as exc:
        raise fail(f"{exc}; see `candor flows versions {escape(brand)}`") from None
    what = "draft" if made.draft else "version"
    console.print(
        f"Preview of {escape(brand)} {what} v{version}, nothing stored; the link expires "
        f"{made.expires_at:%Y-%m-%d %H:%M} UTC:",
        highlight=False,
    )
    typer.echo(made.url)


def _brand_line(source: str) -> str:
    for line in source.splitlines():
        if line.startswith("brand:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return ""


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="flows")
