"""`candor channels check BRAND`: does each configured channel work, as its platform sees it?

A brand sets up Telegram and Slack by copying tokens between web consoles, and a wrong or revoked
token shows up only as silence when a customer writes. This asks each platform (or the stand-in
its base URL points at) who the credentials belong to, and where Telegram delivers updates, and
says what to fix. It also checks what every channel's links need: a public address.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import typer
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from telegram import Bot
from telegram.error import TelegramError

from bot.cli.common import console, fail
from bot.settings import BrandChannels, Settings, load_settings

channels_app = typer.Typer(help="Check brands' channel set-up.", no_args_is_help=True)


@dataclass(frozen=True)
class Check:
    channel: str
    ok: bool
    detail: str
    hint: str = ""


async def _telegram(conf: BrandChannels, settings: Settings, brand: str) -> list[Check]:
    if conf.telegram_token is None:
        return []
    bot = Bot(conf.telegram_token.get_secret_value(), base_url=conf.telegram_base_url)
    try:
        async with bot:
            me = await bot.get_me()
            hook = await bot.get_webhook_info()
    except TelegramError as exc:
        return [
            Check(
                "telegram",
                False,
                f"the Bot API refused the token: {exc.message}",
                "copy the token again from @BotFather into CANDOR_CHANNELS",
            )
        ]
    checks = [Check("telegram", True, f"bot @{me.username} (id {me.id})")]
    expected = f"{settings.public_base_url}/channels/telegram/{brand}"
    if not hook.url:
        checks.append(
            Check(
                "telegram webhook",
                False,
                "no webhook: Telegram delivers this bot's messages nowhere",
                f"run: candor telegram set-webhook {brand} {settings.public_base_url}",
            )
        )
    elif hook.url != expected:
        checks.append(
            Check(
                "telegram webhook",
                False,
                f"delivers to {hook.url}, not to this gateway ({expected})",
                f"run: candor telegram set-webhook {brand} {settings.public_base_url}",
            )
        )
    else:
        last = f"; last error: {hook.last_error_message}" if hook.last_error_message else ""
        checks.append(
            Check("telegram webhook", not last, f"delivers to {hook.url}{last}", _reach(last))
        )
    return checks


def _reach(last_error: str) -> str:
    return "check that the address is reachable over HTTPS from the internet" if last_error else ""


async def _slack(conf: BrandChannels) -> list[Check]:
    if conf.slack_bot_token is None:
        return []
    client = AsyncWebClient(
        token=conf.slack_bot_token.get_secret_value(), base_url=conf.slack_api_url
    )
    try:
        who = await client.auth_test()
    except SlackApiError as exc:
        return [
            Check(
                "slack",
                False,
                f"Slack refused the bot token: {exc.response.get('error', 'error')}",
                "reinstall the app to the workspace and copy its Bot User OAuth Token",
            )
        ]
    checks = [Check("slack", True, f"app user {who.get('user')} in team {who.get('team')}")]
    if conf.slack_signing_secret is None:
        checks.append(
            Check(
                "slack events",
                False,
                "no signing secret: every event Slack sends would be refused",
                "copy the app's Signing Secret into CANDOR_CHANNELS",
            )
        )
    return checks


def _public(settings: Settings) -> Check:
    if settings.public_url:
        return Check("public address", True, settings.public_url)
    return Check(
        "public address",
        False,
        f"CANDOR_PUBLIC_URL is unset: links sent on Slack and Telegram ('show my data') point "
        f"at {settings.gateway_url}, which customers cannot open",
        "set CANDOR_PUBLIC_URL to the HTTPS address customers reach (docs/channels.md)",
    )


@channels_app.command("check")
def check(
    brand: Annotated[str, typer.Argument(help="The brand whose channels to check.")],
) -> None:
    """Ask each configured platform whether BRAND's credentials work, and say what to fix."""
    settings = load_settings()
    conf = settings.channel(brand)
    if conf is None or not (conf.telegram_token or conf.slack_bot_token):
        raise fail(
            f"brand '{brand}' has no Telegram or Slack credentials in CANDOR_CHANNELS or "
            "CANDOR_CHANNELS_FILE; see docs/channels.md"
        )

    async def run() -> list[Check]:
        return [*await _telegram(conf, settings, brand), *await _slack(conf)]

    checks = [*asyncio.run(run()), _public(settings)]
    # One line a check, not a table: a table cuts long details in a narrow terminal or a log.
    for c in checks:
        mark = "[green]✓[/]" if c.ok else "[red]✗[/]"
        console.print(f"{mark} {c.channel}: {c.detail}", soft_wrap=True, highlight=False)
        if c.hint:
            console.print(f"    what to do: {c.hint}", soft_wrap=True, highlight=False)
    if not all(c.ok for c in checks):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(channels_app, name="channels")
