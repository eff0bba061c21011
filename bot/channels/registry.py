"""What the channel adapters share for one gateway, and the registries that hold it.

Kept apart from the adapters (web, slack, telegram), which import the gateway's state for their
routes' dependencies: the state imports this module, and this module imports no adapter, so the
two never import each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from telegram import Bot
from telegram.ext import Application

from bot.channels.buttons import ButtonCodec
from bot.channels.dedup import SqlDeduplicator
from bot.channels.turns import Replies, Screens
from bot.settings import BrandChannels

log = logging.getLogger("candor.channels")


class Jobs:
    """Background work a channel started after answering its platform (Slack's 3-second ack).

    Kept so shutdown can let replies finish instead of dropping them, and so tests can wait for
    a quiet gateway instead of sleeping.
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("channel job %s failed: %s", task.get_name(), type(exc).__name__)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for running jobs (at shutdown); cancel what is still running after `timeout_s`."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)


class TelegramBots:
    """One PTB `Application` per brand, built and initialised on the brand's first update."""

    def __init__(self) -> None:
        self._apps: dict[str, Application] = {}
        self._lock = asyncio.Lock()

    async def bot(self, brand: str, conf: BrandChannels) -> Bot:
        async with self._lock:
            app = self._apps.get(brand)
            if app is None:
                app = build_application(conf)
                await app.initialize()  # getMe: checks the token once
                self._apps[brand] = app
            return app.bot

    async def aclose(self) -> None:
        for app in self._apps.values():
            await app.shutdown()
        self._apps.clear()


def build_application(conf: BrandChannels) -> Application:
    assert conf.telegram_token is not None
    return (
        Application.builder()
        .token(conf.telegram_token.get_secret_value())
        .base_url(conf.telegram_base_url)
        .updater(None)
        .build()
    )


class SlackApps:
    """One bolt `AsyncApp` per brand, built on its first request."""

    def __init__(self) -> None:
        self._apps: dict[str, AsyncApp] = {}

    def app(self, brand: str, build: Callable[[], AsyncApp]) -> AsyncApp:
        app = self._apps.get(brand)
        if app is None:
            app = self._apps[brand] = build()
        return app


@dataclass(frozen=True)
class Channels:
    """What the channel adapters share (built by `bot.channels.registries`)."""

    dedup: SqlDeduplicator  # each platform delivery handled once, across replicas
    buttons: ButtonCodec  # payloads too long for a Telegram button
    jobs: Jobs  # replies still being sent after the platform was answered
    replies: Replies  # the first reply to each named message, for its repeats
    screens: Screens  # the question on each Slack or Telegram conversation's screen
    telegram: TelegramBots
    slack: SlackApps
