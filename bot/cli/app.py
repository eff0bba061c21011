"""The `candor` command line: the root command, and the one list of the modules that add theirs.

Each module in `MODULES` has a `register(app)` that adds its commands or its group; the order
of the list is the order of `candor --help`. A new command goes in a module of its concern
(or a new one), never here.
"""

from __future__ import annotations

import os
from typing import Protocol

import typer

from bot.cli import (
    bench,
    brands,
    channels,
    chat,
    exports,
    flows,
    insights,
    privacy,
    scale,
    serve,
    telegram,
    updates,
    webhooks,
)
from bot.cli.common import err
from bot.settings import SettingsInvalid
from storage.backends import PRIVATE_UMASK


class CommandModule(Protocol):
    def register(self, app: typer.Typer) -> None: ...


MODULES: tuple[CommandModule, ...] = (
    serve,
    chat,
    flows,
    brands,
    telegram,
    channels,
    privacy,
    insights,
    updates,
    webhooks,
    exports,
    scale,
    bench,
)

app = typer.Typer(help="Candor: consent-first conversational surveys.", no_args_is_help=True)


@app.callback()
def _start() -> None:
    """Every command creates its files owner-only (stores, keys, logs, exports): the umask
    is set before any of them is opened, so no file is ever readable by another account."""
    os.umask(PRIVATE_UMASK)


for module in MODULES:
    module.register(app)


def main() -> None:
    """`candor`: the app, with settings problems said plainly (a mistyped CANDOR_* variable is
    the user's to fix, not a crash to debug) and exit code 2, as for a usage error."""
    try:
        app(prog_name="candor")
    except SettingsInvalid as exc:
        err.print(f"[red]error:[/] the settings cannot be used:\n{exc}")
        raise SystemExit(2) from None
