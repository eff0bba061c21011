"""What every `candor` command module shares: the consoles, how an error ends a command, the
runtime over the configured stores, and the steps of a long start shown on the console.

One copy, so that every command says "error:" the same way, on stderr, with exit code 1.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Iterable

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.status import Status

from actions.runtime import Runtime
from bot.settings import Settings, load_settings
from storage import registry

console = Console()
err = Console(stderr=True)


def fail(message: str) -> typer.Exit:
    """Print `message` as the error and return the exit to raise: `raise fail("...")`."""
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(1)


def print_errors(errors: Iterable[object]) -> None:
    """One line per error (a flow's, a CSV row's), as written: file:line and hints keep their
    brackets, and a long line is not broken inside a path."""
    for error in errors:
        err.print(f"[red]✗[/] {escape(str(error))}", highlight=False, soft_wrap=True)


def open_runtime() -> Runtime:
    """The runtime over the stores the environment configures (each command opens its own)."""
    settings = load_settings()
    return Runtime(stores=settings.open_stores(), control_threshold=settings.control_threshold)


def known(runtime: Runtime, brand: str) -> None:
    """Exit 1 with a hint unless `brand` exists: a typo must not read as "no data"."""
    with runtime.stores.registry() as session:
        if registry.get_brand(session, slug=brand) is None:
            raise fail(f"there is no brand named '{brand}'; see `candor brands list`")


def exit_on_sigterm() -> None:
    """For commands that run until stopped: SIGTERM (e.g. from a process manager) stops them
    as Ctrl-C does, their `finally` cleanups included."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def log_to_console(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(name)s %(message)s")
    # Each migration's whole docstring and each action's registration, at every start, buried
    # the lines an operator starts Candor to read; their warnings and errors still show.
    for chatty in ("alembic", "rasa_sdk"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, logging.getLogger().level))


def until_stopped(
    banner: Panel, run: Callable[[], object], stop: Callable[[], None], *, stopping: str
) -> None:
    """Show `banner`, `run` until Ctrl-C or SIGTERM (`exit_on_sigterm`), then `stop` whatever
    ended the run, with `stopping` on a spinner meanwhile."""
    try:
        console.print(banner)
        run()
    except KeyboardInterrupt:
        pass
    finally:
        with console.status(stopping):
            stop()
        console.print("Stopped.")


class Steps:
    """`launcher.Progress` on the console: the current step on a spinner, done ones ticked."""

    def __init__(self, status: Status) -> None:
        self.status = status

    def step(self, text: str) -> None:
        self.status.update(text)

    def done(self, text: str) -> None:
        console.print(f"[green]✓[/] {text}")
