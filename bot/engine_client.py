"""The gateway's client for the Rasa engine's REST channel."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiohttp

from bot.errors import EngineUnavailable
from consent_flows.contract import Button, OutboundMessage

AFTER_TURN = "candor_after_turn"
# Sent by the engine (bot/rasa_boot.py) when a turn failed and was not saved: nothing of it
# counts, whatever else was collected, so the customer gets a 503 and resends.
TURN_FAILED = "candor_turn_failed"
AfterTurn = Callable[[str, list[dict[str, Any]]], None]


class EngineClient:
    """Sends customer messages to the engine's REST channel.

    Actions can ask for work that must wait until the engine has saved the turn (erasing the
    conversation's tracker events): they send a custom message `{"candor_after_turn": [...]}`,
    which is handed to `after_turn` here and never shown to the customer.
    """

    def __init__(
        self, base_url: str, timeout_s: float, after_turn: AfterTurn | None = None
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._after_turn = after_turn

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

    async def send(
        self, *, sender: str, message: str, metadata: dict[str, Any]
    ) -> list[OutboundMessage]:
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
        instructions = [
            task for item in items for task in (item.get("custom") or {}).get(AFTER_TURN, [])
        ]
        if instructions and self._after_turn is not None:
            self._after_turn(sender, instructions)
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
