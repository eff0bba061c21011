"""The gateway's client for the Rasa engine's REST channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

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
        # Idle connections are dropped before the engine's (Sanic's) 5 s keep-alive closes them,
        # so a message is never sent on a connection that is being closed.
        limits = httpx.Limits(max_connections=200, keepalive_expiry=2.0)
        self._http = httpx.AsyncClient(base_url=base_url, timeout=timeout_s, limits=limits)
        self._after_turn = after_turn

    async def send(
        self, *, sender: str, message: str, metadata: dict[str, Any]
    ) -> list[OutboundMessage]:
        try:
            response = await self._http.post(
                "/webhooks/rest/webhook",
                json={"sender": sender, "message": message, "metadata": metadata},
            )
        except httpx.HTTPError as exc:
            raise EngineUnavailable(type(exc).__name__) from None
        if response.status_code != 200:
            raise EngineUnavailable(f"engine answered {response.status_code}")
        try:
            items = response.json()
        except ValueError:
            raise EngineUnavailable("engine sent a body that is not JSON") from None
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
            return (await self._http.get("/", timeout=2.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def aclose(self) -> None:
        await self._http.aclose()
