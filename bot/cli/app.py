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
    chat,
    exports,
    flows,
    insights,
    privacy,
    scale,
    serve,
    telegram,
)
from storage.backends import PRIVATE_UMASK


class CommandModule(Protocol):
    def register(self, app: typer.Typer) -> None: ...


MODULES: tuple[CommandModule, ...] = (
    serve,
    chat,
    flows,
    brands,
    telegram,
    privacy,
    insights,
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
