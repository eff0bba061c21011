"""The `candor` command line."""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.panel import Panel

from bot.brands import AUDIENCES, publish_audiences, publish_flow_file
from bot.cli.telegram import telegram_app
from bot.engine import preflight, supervisor
from bot.settings import load_settings
from consent_flows.loader import FlowInvalid, load_flow_file
from storage import registry
from storage.backends import PRIVATE_UMASK
from storage.stores import StoreUnavailable, UnknownBrand

app = typer.Typer(help="Candor: consent-first conversational surveys.", no_args_is_help=True)
flows_app = typer.Typer(help="Check and publish brand flows.", no_args_is_help=True)
brands_app = typer.Typer(help="Manage brands.", no_args_is_help=True)
app.add_typer(flows_app, name="flows")
app.add_typer(brands_app, name="brands")
app.add_typer(telegram_app, name="telegram")
console = Console()
err = Console(stderr=True)


@app.callback()
def _start() -> None:
    """Every command creates its files owner-only (stores, keys, logs, exports): the umask
    is set before any of them is opened, so no file is ever readable by another account."""
    os.umask(PRIVATE_UMASK)


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(1)


@app.command()
def train(
    force: Annotated[bool, typer.Option(help="Train even if inputs are unchanged.")] = False,
) -> None:
    """Train the Rasa model if config.yml, the domain or the NLU data changed."""
    settings = load_settings()
    try:
        with console.status("Checking the Rasa model…") as status:
            if not force and supervisor.model_path(settings).exists():
                console.print(f"Model is up to date: {supervisor.model_path(settings).name}")
                return
            status.update("Training the Rasa model (inputs changed; about a minute)…")
            path, _ = supervisor.train(settings, force=force)
    except supervisor.EngineError as exc:
        raise _fail(str(exc)) from None
    console.print(f"[green]Trained[/] {path}")


@app.command()
def up() -> None:
    """Train if needed, then run the engine and the gateway with the demo brand."""
    import uvicorn

    from bot.gateway.app import KEEP_ALIVE_S, create_app
    from bot.gateway.body_limit import server_options

    settings = load_settings()
    # SIGTERM (e.g. from a process manager) stops both processes like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    if supervisor.port_in_use(settings.gateway_host, settings.gateway_port):
        raise _fail(
            f"port {settings.gateway_port} is already in use; stop what runs there or "
            "set CANDOR_GATEWAY_PORT"
        )
    try:  # the database and Redis answer, or a clear error naming them (without password)
        preflight.check(settings)
    except preflight.ServiceUnavailable as exc:
        raise _fail(str(exc)) from None
    log_path = settings.run_dir / "supervisor.log"
    try:
        with console.status("Checking the Rasa model…") as status:
            if not supervisor.model_path(settings).exists():
                status.update("Training the Rasa model (inputs changed; about a minute)…")
            model, trained = supervisor.train(settings)
            console.print(
                f"[green]✓[/] model {'trained' if trained else 'up to date'}: {model.name}"
            )
            status.update("Publishing the demo brand's flow…")
            stores = settings.open_stores()
            flow = publish_flow_file(stores, settings.demo_flow)
            publish_audiences(stores, AUDIENCES)
            console.print(f"[green]✓[/] brand {flow.brand}, flow version {flow.version}")
            status.update(f"Starting the Rasa engine (log: {log_path})…")
            process = supervisor.start_engine(settings, model, log_path)
    except (supervisor.EngineError, FlowInvalid) as exc:
        raise _fail(str(exc)) from None
    try:
        with console.status("Waiting for the engine to load the model…"):
            supervisor.wait_until_ready(settings, process, log_path)
        console.print(f"[green]✓[/] engine ready at {settings.rasa_url}")
        console.print(
            Panel(
                f"Chat at [bold]{settings.gateway_url}/[/]   API docs at "
                f"{settings.gateway_url}/docs\nPress Ctrl-C to stop both.",
                title="Candor is running",
            )
        )
        uvicorn.run(
            create_app(settings, stores=stores),
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_level="warning",
            timeout_keep_alive=KEEP_ALIVE_S,
            **server_options(settings),
        )
    except supervisor.EngineError as exc:
        raise _fail(str(exc)) from None
    finally:
        with console.status("Stopping the engine…"):
            supervisor.stop(process)
        console.print("Stopped.")


@app.command()
def chat(
    brand: str,
    url: Annotated[str | None, typer.Option(help="Gateway URL.")] = None,
    user: Annotated[str | None, typer.Option(help="Your user id (default: random).")] = None,
) -> None:
    """Chat with a brand's survey in the terminal (the gateway must be running)."""
    settings = load_settings()
    base = url or settings.gateway_url
    user_id = user or f"cli-{uuid.uuid4().hex[:12]}"
    console.print("[dim]Type your answers; a number picks a button. Ctrl-D to leave.[/]")
    buttons: list[dict[str, str]] = []
    pending: dict[str, str] | None = {"payload": "/greet"}
    # The question on screen (sent back as reply_to) and one message id per message, reused on a
    # resend, so a retry is never processed twice or filed under a later question.
    on_screen: str | None = None
    message_id = uuid.uuid4().hex
    with httpx.Client(base_url=base, timeout=90) as client:
        while True:
            if pending is None:
                try:
                    typed = console.input("[bold green]you>[/] ").strip()
                except (EOFError, KeyboardInterrupt):
                    console.print()
                    return
                if not typed:
                    continue
                if typed.isascii() and typed.isdigit() and 1 <= int(typed) <= len(buttons):
                    pending = {"payload": buttons[int(typed) - 1]["payload"]}
                else:
                    pending = {"text": typed}
                if on_screen:
                    pending["reply_to"] = on_screen
                message_id = uuid.uuid4().hex
            try:
                response = client.post(
                    f"/api/v1/chat/{brand}",
                    json={"user_id": user_id, "message_id": message_id, **pending},
                )
            except httpx.HTTPError:
                err.print(
                    f"Cannot reach {base}; is `make run` running? Your message is kept: "
                    "press Enter to retry."
                )
                console.input()
                continue
            data = response.json()
            if response.status_code == 503:
                err.print(f"{data['detail']} Press Enter to resend.")
                console.input()
                continue
            pending = None
            if response.status_code != 200:
                err.print(f"[red]{data.get('detail', response.text)}[/]")
                if response.status_code == 404:
                    raise typer.Exit(1)
                continue
            buttons = []
            for message in data["messages"]:
                on_screen = message.get("question") or on_screen
                console.print(f"[bold cyan]bot>[/] {message['text']}")
                for button in message["buttons"]:
                    buttons.append(button)
                    console.print(f"      [{len(buttons)}] {button['title']}")


@flows_app.command("validate")
def flows_validate(
    paths: list[Path],
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Check flow files: every error with file:line:column and a hint. Exit 1 on any error."""
    import json
    from dataclasses import asdict

    report = []
    for path in paths:
        try:
            flow = load_flow_file(path)
        except FlowInvalid as exc:
            report.append(
                {"file": str(path), "valid": False, "errors": [asdict(e) for e in exc.errors]}
            )
            if output == "text":
                for error in exc.errors:
                    err.print(f"[red]✗[/] {error}", highlight=False)
        else:
            report.append(
                {
                    "file": str(path),
                    "valid": True,
                    "brand": flow.brand,
                    "flow": flow.id,
                    "version": flow.version,
                    "errors": [],
                }
            )
            if output == "text":
                console.print(
                    f"[green]✓[/] {path}: {flow.brand}/{flow.id} v{flow.version}, "
                    f"{len(flow.steps)} steps, consent proven on every path",
                    highlight=False,
                )
    if output == "json":
        valid = all(item["valid"] for item in report)
        typer.echo(json.dumps({"valid": valid, "files": report}, indent=2))
    if not all(item["valid"] for item in report):
        raise typer.Exit(1)


GRAPH_FORMATS = ("mermaid", "dot", "svg", "png")
GRAPH_SUFFIXES = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot"}
GRAPH_TIMEOUT_S = 60


@flows_app.command("graph")
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
    import shutil
    import subprocess

    from rich.markup import escape

    from consent_flows import graph
    from consent_flows.loader import FlowInvalid

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
    try:
        flow = load_flow_file(path)
    except FlowInvalid as exc:
        for error in exc.errors:
            err.print(f"[red]✗[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None

    def write(target: Path, data: str | bytes) -> None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                target.write_bytes(data)
            else:
                target.write_text(data, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"cannot write {escape(str(target))} ({exc.strerror})") from None
        console.print(f"[green]✓[/] wrote {escape(str(target))}", highlight=False)

    if fmt in ("mermaid", "dot"):
        text = graph.to_mermaid(flow) if fmt == "mermaid" else graph.to_dot(flow)
        if out is None:
            typer.echo(text, nl=False)
        else:
            write(out, text)
        return
    assert out is not None
    dot = shutil.which("dot")
    if dot is None:
        mermaid_path = out.with_suffix(".mmd")
        write(mermaid_path, graph.to_mermaid(flow))
        raise _fail(
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
        raise _fail(
            f"Graphviz took over {GRAPH_TIMEOUT_S}s to draw the flow; "
            "try --format dot and render it yourself"
        ) from None
    except OSError as exc:
        raise _fail(f"cannot run {escape(dot)} ({exc.strerror})") from None
    if result.returncode != 0:
        detail = result.stderr.decode(errors="replace").strip()
        raise _fail(f"Graphviz could not draw the flow: {escape(detail)}")
    write(out, result.stdout)


@brands_app.command("list")
def brands_list() -> None:
    """List brands and their latest flow version."""
    stores = load_settings().open_stores()
    with stores.registry() as session:
        for brand in registry.list_brands(session):
            latest = registry.latest_flow(session, brand=brand.slug)
            console.print(f"{brand.slug}\t{latest.version if latest else '-'}")


@brands_app.command("create")
def brands_create(
    flow: Path,
    valid_days: Annotated[int | None, typer.Option(help="Key lifetime in days.")] = None,
) -> None:
    """Create a brand from its flow file, publish the flow and print its API key (once)."""
    from bot.brands import create_brand

    try:
        stores = load_settings().open_stores()
        published, key = create_brand(stores, flow, valid_days=valid_days)
        stores.migrate_all([published.brand])  # its data and key stores, created and migrated
    except (FlowInvalid, ValueError, StoreUnavailable) as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"[green]✓[/] brand {published.brand}: flow {published.id} v{published.version} published"
    )
    console.print(f"API key (shown once, keep it secret): [bold]{key}[/]")


KEY_DAYS = 365


@brands_app.command("key")
def brands_key(
    brand: str,
    valid_days: Annotated[
        int, typer.Option(min=1, help="Key lifetime in days (at least 1).")
    ] = KEY_DAYS,
    no_expiry: Annotated[
        bool, typer.Option("--no-expiry", help="A key that never expires (not recommended).")
    ] = False,
) -> None:
    """Issue another API key for a brand (e.g. to rotate keys); prints it once.

    A key expires (after a year unless `--valid-days` says otherwise): 0 used to mean "never"
    and a negative number "already expired", both silently. A key for ever must be asked for.
    """
    if no_expiry:
        err.print(
            "[yellow]warning:[/] this key never expires; revoke it when it is no longer "
            "needed, or issue one with --valid-days instead"
        )
    stores = load_settings().open_stores()
    with stores.registry() as session:
        if registry.get_brand(session, slug=brand) is None:
            raise _fail(f"there is no brand named '{brand}'; see `candor brands list`")
        key = registry.issue_key(
            session,
            brand=brand,
            label="issued with brands key",
            valid_days=None if no_expiry else valid_days,
        )
        session.commit()
    console.print(f"API key for {brand} (shown once): [bold]{key}[/]")
    if not no_expiry:
        console.print(f"It expires in {valid_days} days.")


@flows_app.command("publish")
def flows_publish(path: Path) -> None:
    """Validate a flow and publish it as its brand's new live version (no restart needed)."""
    from bot.brands import publish_flow_source
    from storage.registry import StaleVersion

    stores = load_settings().open_stores()
    try:
        # Bytes, so that invalid UTF-8 gets the loader's message (byte offset, line, hint).
        source = path.read_bytes()
        brand = _brand_line(source.decode("utf-8", errors="replace"))
        flow, row = publish_flow_source(stores, brand=brand, source=source, origin=str(path))
    except FlowInvalid as exc:
        for error in exc.errors:
            err.print(f"[red]✗[/] {error}", highlight=False)
        raise _fail("not published; the live version is unchanged") from None
    except UnknownBrand as exc:
        raise _fail(
            f"there is no brand named '{exc.brand}'; create it with `candor brands create FLOW`"
        ) from None
    except (OSError, ValueError, StaleVersion) as exc:
        raise _fail(f"{exc}; the live version is unchanged") from None
    console.print(
        f"[green]✓[/] {flow.brand}/{flow.id} v{row.version} is live; new "
        "conversations use it now, ongoing ones finish on their version"
    )


def _brand_line(source: str) -> str:
    for line in source.splitlines():
        if line.startswith("brand:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return ""


from bot.cli import bench, insights, privacy, scale  # noqa: E402

for group in (privacy, insights, scale, bench):
    group.register(app)
