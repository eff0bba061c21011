"""Channels: the web widget, Slack and Telegram, each a thin adapter onto one dispatch path.

`mount(app)` adds their routes and the state they share (delivery dedup, button codec, per-brand
platform clients, background jobs, kept replies and the question on each conversation's screen,
bot.channels.turns); `shutdown(app)` lets running replies finish and closes clients. Credentials
come from `Settings.channels`, never from flow files, and never reach logs.

The adapters are imported in `mount`, not here: the chat API (bot.gateway.routes.chat) uses
bot.channels.turns, and the adapters import the chat API's helpers.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

__all__ = ["mount", "shutdown"]

# Their DEBUG output carries bot tokens in URLs and customers' messages in bodies.
_CHATTY = ("telegram", "slack_bolt", "slack_sdk", "aiohttp", "websockets")


def mount(app: FastAPI) -> None:
    from bot.channels import slack, telegram, web
    from bot.channels.buttons import ButtonCodec
    from bot.channels.dedup import SqlDeduplicator
    from bot.channels.dispatch import Jobs
    from bot.channels.turns import Replies, Screens

    stores = app.state.stores
    app.state.channel_dedup = SqlDeduplicator(stores)
    app.state.button_codec = ButtonCodec(stores)
    app.state.channel_jobs = Jobs()
    app.state.replies = Replies(
        app.state.channel_dedup, lease_s=app.state.settings.engine_timeout_s + 15.0
    )
    app.state.screens = Screens()
    app.state.telegram_bots = telegram.TelegramBots()
    app.state.slack_apps = slack.SlackApps()
    app.include_router(web.router)
    app.include_router(telegram.router)
    app.include_router(slack.router)
    for name in _CHATTY:
        logger = logging.getLogger(name)
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))


async def shutdown(app: FastAPI) -> None:
    await app.state.channel_jobs.drain()
    await app.state.telegram_bots.aclose()
