"""`candor` commands for running at scale: migrate, gateway, engine, scale (docs/deploy.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import typer
from rich.panel import Panel
from rich.progress import Progress

from bot.cli.common import console, exit_on_sigterm, fail, log_to_console, until_stopped
from bot.engine import preflight, supervisor
from bot.engine.process import port_in_use
from bot.settings import load_settings
from storage import registry


def migrate() -> None:
    """Upgrade the registry and every brand's data and key stores to the latest migration."""
    settings = load_settings()
    try:
        preflight.check_database(settings)
    except preflight.ServiceUnavailable as exc:
        raise fail(str(exc)) from None
    stores = settings.open_stores()
    try:
        with stores.registry() as session:
            brands = [b.slug for b in registry.list_brands(session)]
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Migrating brand stores…", total=len(brands))
            for brand in brands:
                stores.migrate_all([brand])
                progress.advance(task)
    finally:
        stores.dispose()
    console.print(
        f"[green]✓[/] registry and {len(brands)} brand store(s) are at the latest migration "
        f"({settings.database_label})"
    )


def gateway() -> None:
    """Run one gateway (no engine): a replica behind a load balancer, or on its own machine."""
    from bot.engine import launcher  # the gateway app: not loaded by the other commands

    settings = load_settings()
    try:
        preflight.check(settings)
    except preflight.ServiceUnavailable as exc:
        raise fail(str(exc)) from None
    exit_on_sigterm()
    log_to_console(settings)
    logging.getLogger("candor").info(
        "gateway on %s, engine %s, stores %s",
        settings.gateway_url,
        settings.rasa_url,
        settings.database_label,
    )
    launcher.serve(settings)


def engine_command() -> None:
    """Run one Rasa engine (no gateway) with endpoints generated from the CANDOR_* settings."""
    from bot.engine import launcher

    settings = load_settings()
    exit_on_sigterm()
    log_path = settings.run_dir / "engine.log"
    try:
        preflight.check(settings)
        model, _ = supervisor.train(settings)
        process = launcher.ready_engine(settings, model, log_path)
    except (preflight.ServiceUnavailable, supervisor.EngineError) as exc:
        raise fail(str(exc)) from None
    try:
        console.print(
            f"[green]✓[/] engine ready at {settings.rasa_url}, actions at "
            f"{settings.action_endpoint} (log: {log_path}); Ctrl-C stops it"
        )
        process.wait()
    finally:
        supervisor.stop(process)


def scale(
    replicas: Annotated[int, typer.Option(min=1, max=8, help="Engines and gateways to run.")] = 2,
) -> None:
    """The demo on PostgreSQL and Redis: N engines, N gateways, a round-robin proxy in front.

    The proxy on CANDOR_GATEWAY_PORT (8000) stands in for a real load balancer; gateways listen
    on the next ports, engines on CANDOR_RASA_URL's port and the next ones.
    """
    from bot.engine import replicas as scaling
    from bot.engine.demo_proxy import RoundRobinProxy

    settings = load_settings()
    exit_on_sigterm()
    base_port = supervisor.engine_port(settings)
    gateway_ports = [settings.gateway_port + 1 + i for i in range(replicas)]
    engine_ports = [base_port + i for i in range(replicas)]
    for port in (settings.gateway_port, *gateway_ports, *engine_ports):
        if port_in_use("127.0.0.1", port):
            raise fail(f"port {port} is already in use; stop what runs there")
    try:
        with console.status(
            f"Starting {replicas} engine(s) and {replicas} gateway(s) on "
            f"{settings.database_label} and {settings.redis_label or 'no Redis'}…"
        ):
            running = scaling.start(
                settings, count=replicas, engine_ports=engine_ports, gateway_ports=gateway_ports
            )
    except (scaling.ScaleError, supervisor.EngineError) as exc:
        raise fail(str(exc)) from None
    proxy = RoundRobinProxy([("127.0.0.1", port) for port in gateway_ports])
    banner = Panel(
        f"Chat at [bold]{settings.gateway_url}/[/] (round-robin over gateways "
        f"{', '.join(map(str, gateway_ports))}; engines on "
        f"{', '.join(map(str, engine_ports))})\nStores: {settings.database_label}; "
        f"locks: {settings.redis_label}\nLogs: {settings.run_dir}/replica-*/\n"
        "Press Ctrl-C to stop everything.",
        title=f"Candor is running with {replicas} replica(s)",
    )
    until_stopped(
        banner,
        lambda: asyncio.run(proxy.serve_forever(settings.gateway_host, settings.gateway_port)),
        running.stop,
        stopping="Stopping engines and gateways…",
    )


def register(app: typer.Typer) -> None:
    app.command()(migrate)
    app.command()(gateway)
    app.command("engine")(engine_command)
    app.command()(scale)
