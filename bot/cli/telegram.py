"""`candor telegram ...`: connect a brand's Telegram bot to this gateway."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from telegram.error import TelegramError

from bot.channels.telegram import set_webhook
from bot.settings import load_settings

telegram_app = typer.Typer(help="Connect brands' Telegram bots.", no_args_is_help=True)
console = Console()
err = Console(stderr=True)


def webhook_url(url: str, brand: str) -> str:
    """The brand's webhook route under `url`, unless `url` already names it."""
    path = f"/channels/telegram/{brand}"
    return url if url.rstrip("/").endswith(path) else url.rstrip("/") + path


@telegram_app.command("set-webhook")
def telegram_set_webhook(
    brand: str,
    url: Annotated[
        str, typer.Argument(help="The gateway's public HTTPS URL (the route is appended).")
    ],
) -> None:
    """Register this gateway with Telegram as BRAND's webhook, with the brand's secret token."""
    conf = load_settings().channel(brand)
    if conf is None or not conf.telegram:
        err.print(
            f"[bold red]error:[/] brand '{brand}' has no telegram_token and "
            "telegram_secret_token in CANDOR_CHANNELS or CANDOR_CHANNELS_FILE; "
            "see docs/channels.md"
        )
        raise typer.Exit(1)
    target = webhook_url(url, brand)
    if not target.startswith("https://"):
        err.print("[yellow]warning:[/] Telegram only delivers to https:// URLs")
    try:
        done = asyncio.run(set_webhook(conf, target))
    except TelegramError as exc:
        err.print(f"[bold red]error:[/] Telegram refused: {exc.message}")
        raise typer.Exit(1) from None
    if not done:
        err.print("[bold red]error:[/] Telegram did not accept the webhook")
        raise typer.Exit(1)
    console.print(f"[green]✓[/] {brand}'s Telegram bot now posts updates to {target}")
