"""Handle each delivery once, across gateway replicas: the check-and-mark behind one interface.

Platforms redeliver: Telegram repeats an `update_id` it thinks was lost, Slack retries an
`event_id` (with `X-Slack-Retry-Num`) when the ack was slow. A second delivery must never produce
a second reply or a second stored answer. Ids are hashed before they are stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import timedelta
from typing import Protocol

from storage import dedup
from storage.stores import Stores

DEFAULT_TTL = timedelta(days=2)  # longer than Telegram's and Slack's redelivery windows
_PURGE_EVERY_S = 600.0


class Deduplicator(Protocol):
    async def first(self, scope: str, delivery_id: str, lease: timedelta | None = None) -> bool:
        """Claim a delivery; True the first time, False for every repeat until it expires.

        With `lease`, the claim lasts only that long unless `keep` is called: a process killed
        while it holds the claim does not make the client's resend "already handled" for days.
        """
        ...

    async def keep(self, scope: str, delivery_id: str) -> None:
        """Turn a leased claim into the lasting one, once its work has finished."""
        ...

    async def settled(self, scope: str, delivery_id: str, lease: timedelta) -> bool:
        """Whether the delivery's claim is the lasting one (its work finished), not a lease
        that is still running: held by a request in flight, or by a process that died."""
        ...

    async def forget(self, scope: str, delivery_id: str) -> None:
        """Drop a claim, so the platform's redelivery is handled (nothing was processed)."""
        ...


def _key(delivery_id: str) -> str:
    return hashlib.sha256(delivery_id.encode()).hexdigest()


class SqlDeduplicator:
    """Marks in the shared registry database, taken with one atomic INSERT."""

    def __init__(self, stores: Stores, ttl: timedelta = DEFAULT_TTL) -> None:
        self._stores = stores
        self._ttl = ttl
        self._purged_at = time.monotonic()

    def _claim(self, scope: str, key: str, ttl: timedelta) -> bool:
        with self._stores.registry() as session:
            if time.monotonic() - self._purged_at > _PURGE_EVERY_S:
                self._purged_at = time.monotonic()
                dedup.purge_expired(session)
            return dedup.claim(session, scope=scope, key=key, ttl=ttl)

    def _keep(self, scope: str, key: str) -> None:
        with self._stores.registry() as session:
            dedup.extend(session, scope=scope, key=key, ttl=self._ttl)

    def _settled(self, scope: str, key: str, lease: timedelta) -> bool:
        with self._stores.registry() as session:
            return dedup.settled(session, scope=scope, key=key, longer_than=lease)

    def _release(self, scope: str, key: str) -> None:
        with self._stores.registry() as session:
            dedup.release(session, scope=scope, key=key)

    async def first(self, scope: str, delivery_id: str, lease: timedelta | None = None) -> bool:
        return await asyncio.to_thread(self._claim, scope, _key(delivery_id), lease or self._ttl)

    async def keep(self, scope: str, delivery_id: str) -> None:
        await asyncio.to_thread(self._keep, scope, _key(delivery_id))

    async def forget(self, scope: str, delivery_id: str) -> None:
        await asyncio.to_thread(self._release, scope, _key(delivery_id))

    async def settled(self, scope: str, delivery_id: str, lease: timedelta) -> bool:
        return await asyncio.to_thread(self._settled, scope, _key(delivery_id), lease)
