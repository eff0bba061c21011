"""`candor train` and `candor up`: the whole product on one machine, as `make run` starts it."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.panel import Panel

from bot.cli.common import Steps, console, exit_on_sigterm, fail, log_to_console, until_stopped
from bot.engine import preflight, supervisor
from bot.engine.process import port_in_use
from bot.settings import Settings, load_settings
from consent_flows.loader import FlowInvalid


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
        raise fail(str(exc)) from None
    console.print(f"[green]Trained[/] {path}")


def up() -> None:
    """Train if needed, then run the engine and the gateway with the demo brand."""
    from bot.engine import launcher  # the gateway app: not loaded by the other commands

    settings = load_settings()
    exit_on_sigterm()
    log_to_console(settings)
    if port_in_use(settings.gateway_host, settings.gateway_port):
        raise fail(
            f"port {settings.gateway_port} is already in use; stop what runs there or "
            "set CANDOR_GATEWAY_PORT"
        )
    try:  # the database and Redis answer, or a clear error naming them (without password)
        preflight.check(settings)
    except preflight.ServiceUnavailable as exc:
        raise fail(str(exc)) from None
    try:
        with console.status("Checking the Rasa model…") as status:
            running = launcher.launch(settings, progress=Steps(status))
    except (supervisor.EngineError, FlowInvalid) as exc:
        raise fail(str(exc)) from None
    until_stopped(banner(settings), running.wait, running.stop, stopping="Stopping the engine…")


def banner(settings: Settings) -> Panel:
    """What `candor up` (and so `make run`) shows once the gateway answers: where to chat, and
    where a brand finds its results.

    The dashboard asks for the brand's API key. `candor up` issues none: keys are kept only as
    hashes, so no key exists to show, and writing a fresh one to a file on every start would
    leave secrets lying about. The banner names the command that prints one, once.
    """
    from bot.gateway.routes.insights import router

    brand = settings.demo_brand
    dashboard = settings.gateway_url + router.url_path_for("dashboard", brand=brand)
    return Panel(
        f"Chat at [bold]{settings.gateway_url}/[/]   API docs at {settings.gateway_url}/docs\n"
        f"Results of the demo brand ({brand}), in the dashboard:\n"
        f"[bold]{dashboard}[/]\n"
        "It asks for the brand's API key; in another terminal, print one (shown once) with\n"
        f"[bold].venv/bin/candor brands key {brand}[/]\n"
        "Press Ctrl-C to stop both.",
        title="Candor is running",
    )


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(up)
