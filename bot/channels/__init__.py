"""Channels: the web widget, Slack and Telegram, each a thin adapter onto one dispatch path.

`registries(...)` makes what they share (delivery dedup, button codec, per-brand platform
clients, background jobs, kept replies and the question on each conversation's screen,
bot.channels.turns), which the gateway keeps in its typed state (`Gateway.channels`);
`mount(app)` adds their routes and `shutdown(channels)` lets running replies finish and closes
clients. Credentials come from `Settings.channels`, never from flow files, and never reach logs.

The adapters are imported in `mount`, not here: the chat API (bot.gateway.routes.chat) uses
bot.channels.turns, and the adapters import the chat API's helpers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI

if TYPE_CHECKING:
    from bot.channels.registry import Channels
    from bot.gateway.engine_client import EngineClient
    from bot.settings import Settings
    from storage.stores import Stores

__all__ = ["mount", "registries", "shutdown"]

# Their DEBUG output carries bot tokens in URLs and customers' messages in bodies.
_CHATTY = ("telegram", "slack_bolt", "slack_sdk", "aiohttp", "websockets")


def registries(settings: Settings, stores: Stores, engine: EngineClient) -> Channels:
    """The channels' shared state for one gateway; kept replies hear of erasures from `engine`."""
    from bot.channels.buttons import ButtonCodec
    from bot.channels.dedup import SqlDeduplicator
    from bot.channels.registry import Channels, Jobs, SlackApps, TelegramBots
    from bot.channels.turns import Replies, Screens

    dedup = SqlDeduplicator(stores)
    replies = Replies(dedup, lease_s=settings.engine_timeout_s + 15.0)
    engine.listen(replies.after_turn)
    return Channels(
        dedup=dedup,
        buttons=ButtonCodec(stores),
        jobs=Jobs(),
        replies=replies,
        screens=Screens(),
        telegram=TelegramBots(),
        slack=SlackApps(),
    )


def mount(app: FastAPI) -> None:
    from bot.channels import slack, telegram, web

    app.include_router(web.router)
    app.include_router(telegram.router)
    app.include_router(slack.router)
    for name in _CHATTY:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))


async def shutdown(channels: Channels) -> None:
    await channels.jobs.drain()
    await channels.telegram.aclose()
