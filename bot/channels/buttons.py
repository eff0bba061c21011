"""Button payloads for platforms that limit the data a button carries (Telegram: 64 bytes).

A payload that fits is sent as it is (`/affirm`, `/choose{"choice": "hiking"}`), so a press needs
no lookup. A longer one travels as `#` plus a digest, and the payload is kept in the shared
registry under that digest, so any gateway replica can resolve a press. Payloads come from brands'
flows, never from what customers typed, and a press only ever yields a payload: it is checked
against the payload shape before it reaches the engine.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib

from storage import dedup
from storage.stores import Stores

TELEGRAM_LIMIT = 64


def _digest(payload: str) -> str:
    raw = hashlib.sha256(payload.encode()).digest()
    return base64.urlsafe_b64encode(raw).decode()[:22]


class ButtonCodec:
    def __init__(self, stores: Stores, limit: int = TELEGRAM_LIMIT) -> None:
        self._stores = stores
        self._limit = limit

    def _remember(self, digest: str, payload: str) -> None:
        with self._stores.registry() as session:
            dedup.remember_payload(session, digest=digest, payload=payload)

    def _recall(self, digest: str) -> str | None:
        with self._stores.registry() as session:
            return dedup.recall_payload(session, digest=digest)

    async def encode(self, payload: str) -> str:
        if len(payload.encode()) <= self._limit:
            return payload
        digest = _digest(payload)
        await asyncio.to_thread(self._remember, digest, payload)
        return f"#{digest}"

    async def decode(self, data: str) -> str | None:
        """The payload behind a button's data, or None for data this gateway never sent."""
        if data.startswith("#"):
            return await asyncio.to_thread(self._recall, data[1:])
        return data or None
