"""The one path from a channel to the engine: `InboundMessage` in, `OutboundMessage`s out.

Adapters (web, Slack, Telegram) only translate platform payloads; everything they share lives
here: the pseudonymous sender, the rule that typed text never acts as a command, the engine call
(with the token of the question the customer was answering, `reply_to`), and background jobs for
channels that must answer the platform before the bot has replied.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any

from fastapi.responses import JSONResponse
from starlette.datastructures import State

from bot.gateway.errors import error_body
from bot.gateway.routes.chat import _clean, resolve_sender
from bot.pseudonym import subject_id
from consent_flows.contract import InboundMessage, OutboundMessage, Sender
from storage.stores import Stores

log = logging.getLogger("candor.channels")

# What a button payload may look like: a Rasa intent, optionally with JSON entities. The same
# shape the chat API accepts.
PAYLOAD = re.compile(r"^/[a-z_]+(\{.*\})?$")


class Refused(ValueError):
    """A message the gateway will not forward; `reply` tells the customer what to do instead."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


STALE_BUTTON = "That button no longer works; please type your answer instead."


def is_payload(value: str) -> bool:
    return len(value) <= 500 and PAYLOAD.match(value) is not None


def brand_exists(stores: Stores, brand: str) -> bool:
    return stores.brand_exists(brand)


def conversation_of(state: State, inbound: InboundMessage) -> str:
    """The conversation a message belongs to, as the engine names it (pseudonymous).

    For the gateway's own bookkeeping (bot.channels.turns); unlike `converse` it does not look
    the brand up, so it costs one HMAC.
    """
    user = subject_id(
        state.settings.key, brand=inbound.brand, channel=inbound.channel, user_id=inbound.user_id
    )
    return str(Sender(inbound.brand, inbound.channel, user))


async def converse(
    state: State, inbound: InboundMessage, *, reply_to: str | None = None
) -> list[OutboundMessage]:
    """Send one customer message to the engine under its pseudonymous sender; return the replies.

    `reply_to` is the token of the question the customer was looking at when they wrote (None:
    unknown); the message that asks carries its token as `question` in the replies.
    Raises `Refused` (send its reply), `UnknownBrand` and `EngineUnavailable` (bot.gateway.errors).
    """
    sender = resolve_sender(
        state.stores,
        state.settings,
        brand=inbound.brand,
        channel=inbound.channel,
        user_id=inbound.user_id,
    )
    limit = state.settings.max_message_chars
    if inbound.payload is not None:
        if not is_payload(inbound.payload):
            raise Refused(STALE_BUTTON)
        message = inbound.payload
    elif len(inbound.text or "") > limit:
        raise Refused(f"That message is longer than {limit} characters; please send a shorter one.")
    elif not (inbound.text or "").strip():
        raise Refused("I can only read text messages; please type your answer.")
    else:
        message = _clean(inbound.text or "")
    return await state.engine.send(
        sender=str(sender),
        message=message,
        metadata={"brand": sender.brand, "channel": sender.channel},
        reply_to=reply_to,
    )


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


def not_configured(brand: str, channel: str) -> JSONResponse:
    """404 for an unknown brand or one that has not connected this channel (no secret leaks)."""
    return JSONResponse(
        error_body(
            "channel_not_configured",
            f"brand '{brand[:80]}' has no {channel} channel configured; "
            "see docs/channels.md to connect one",
        ),
        404,
    )
