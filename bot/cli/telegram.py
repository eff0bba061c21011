"""`candor telegram ...`: connect a brand's Telegram bot to this gateway."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from telegram.error import TelegramError

from bot.channels.telegram import set_webhook
from bot.cli.common import console, err, fail
from bot.settings import load_settings

telegram_app = typer.Typer(help="Connect brands' Telegram bots.", no_args_is_help=True)


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
        raise fail(
            f"brand '{brand}' has no telegram_token and "
            "telegram_secret_token in CANDOR_CHANNELS or CANDOR_CHANNELS_FILE; "
            "see docs/channels.md"
        )
    target = webhook_url(url, brand)
    if not target.startswith("https://"):
        err.print("[yellow]warning:[/] Telegram only delivers to https:// URLs")
    try:
        done = asyncio.run(set_webhook(conf, target))
    except TelegramError as exc:
        raise fail(f"Telegram refused: {exc.message}") from None
    if not done:
        raise fail("Telegram did not accept the webhook")
    console.print(f"[green]✓[/] {brand}'s Telegram bot now posts updates to {target}")


def register(app: typer.Typer) -> None:
    app.add_typer(telegram_app, name="telegram")
