"""The gateway's client for the Rasa engine's REST channel."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any, NamedTuple

import aiohttp

from bot.gateway.errors import EngineUnavailable
from consent_flows.contract import AFTER_TURN, QUESTION_TOKEN, TURN_FAILED, Button, OutboundMessage

AfterTurn = Callable[[str, list[dict[str, Any]]], None]


class Reachable(NamedTuple):
    """How the customer of a turn could be written to later, known only to the channel that
    carried the turn. Kept (sealed) only when the turn's actions say the customer just chose
    to follow the brand; never sent to the engine, so no tracker ever holds it."""

    address: str
    language: str | None = None
    time_zone: str | None = None


# The gateway's after-turn work: the instructions, and the turn's `Reachable` where known.
TurnWork = Callable[[str, list[dict[str, Any]], Reachable | None], None]
# The metadata key the engine's actions read the customer's question token from.
REPLY_TO = "reply_to"
# What a question token may look like: it travels to clients and back (`reply_to`), so it is
# printable ASCII without spaces, at most 100 characters.
TOKEN_PATTERN = r"^[!-~]{1,100}$"
_TOKEN = re.compile(TOKEN_PATTERN)


class EngineClient:
    """Sends customer messages to the engine's REST channel.

    Actions can ask for work that must wait until the engine has saved the turn (erasing the
    conversation's tracker events): they send a custom message `{"candor_after_turn": [...]}`,
    which is handed to `after_turn` here (and to every `listen`er) and never shown to the
    customer.

    After each turn the engine also names the question now on screen, `{"candor_question":
    "<token>"}`. That item is not shown either: its token is set as `question` on the message
    that asks (the last one with text or buttons), so a channel can send it back as the
    customer's `reply_to` and an answer is filed under the question the customer saw.
    """

    def __init__(self, base_url: str, timeout_s: float, after_turn: TurnWork | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._after_turn = after_turn
        self._listeners: list[AfterTurn] = []

    def _http(self) -> aiohttp.ClientSession:
        """One pooled session, made in the running event loop on first use.

        aiohttp rather than httpx: on this hot path (every customer turn) httpx's client cost
        the gateway about three times the CPU of aiohttp's (docs/benchmarks.md). Idle
        connections are dropped before the engine's (Sanic's) 5 s keep-alive closes them, so a
        message is never sent on a connection that is being closed.
        """
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=200, keepalive_timeout=2.0)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    def listen(self, listener: AfterTurn) -> None:
        """Also hand after-turn instructions to `listener` (e.g. an erasure drops kept replies)."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    async def send(
        self,
        *,
        sender: str,
        message: str,
        metadata: dict[str, Any],
        reply_to: str | None = None,
        reachable: Reachable | None = None,
    ) -> list[OutboundMessage]:
        """One customer turn. `reply_to` is the token of the question the customer was looking
        at (None: the client does not say); the engine reads it from the message's metadata.
        `reachable` goes to the after-turn work only (see `Reachable`)."""
        if reply_to is not None:
            metadata = {**metadata, REPLY_TO: reply_to}
        try:
            async with self._http().post(
                f"{self._base_url}/webhooks/rest/webhook",
                json={"sender": sender, "message": message, "metadata": metadata},
            ) as response:
                status, body = response.status, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise EngineUnavailable(type(exc).__name__) from None
        if status != 200:
            raise EngineUnavailable(f"engine answered {status}")
        try:
            items = json.loads(body)
        except ValueError:
            raise EngineUnavailable("engine sent a body that is not JSON") from None
        if not isinstance(items, list):
            raise EngineUnavailable("engine sent JSON that is not a list of messages")
        failed = next(
            (
                item["custom"][TURN_FAILED]
                for item in items
                if TURN_FAILED in (item.get("custom") or {})
            ),
            None,
        )
        if failed is not None:
            raise EngineUnavailable(f"the engine abandoned the turn: {failed}")
        messages = [
            OutboundMessage(
                text=item.get("text") or "",
                buttons=tuple(
                    Button(title=b["title"], payload=b["payload"])
                    for b in item.get("buttons") or ()
                ),
            )
            for item in items
            if item.get("text") or item.get("buttons")
        ]
        question = _question(items)
        if question is not None and messages:
            messages[-1] = messages[-1].model_copy(update={"question": question})
        instructions = [
            task for item in items for task in (item.get("custom") or {}).get(AFTER_TURN, [])
        ]
        if instructions:
            if self._after_turn is not None:
                # Database work (tracker erasure, a WAL checkpoint waiting for a reader, a
                # PostgreSQL VACUUM): in a thread, so no other conversation waits on it. It
                # still ends before this customer's reply is returned.
                await asyncio.to_thread(self._after_turn, sender, instructions, reachable)
            for listener in self._listeners:  # in-memory bookkeeping, on the loop
                listener(sender, instructions)
        if not messages:
            # Every customer turn gets a reply; silence means an action failed inside the engine.
            raise EngineUnavailable("engine produced no reply")
        return messages

    async def alive(self) -> bool:
        try:
            async with self._http().get(
                f"{self._base_url}/", timeout=aiohttp.ClientTimeout(total=2.0)
            ) as response:
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def _question(items: list[Any]) -> str | None:
    """The token the engine named for the question on screen (the last one it sent), if any."""
    token = None
    for item in items:
        custom = item.get("custom") if isinstance(item, dict) else None
        value = custom.get(QUESTION_TOKEN) if isinstance(custom, dict) else None
        if isinstance(value, str):
            token = value
    return token if token is not None and _TOKEN.match(token) else None
