"""The delivery loop: a brand's queued webhook deliveries, signed and POSTed, one at a time.

Each delivery is taken (state `sending`) and committed before the call, and settled and
committed after it. A process killed in between leaves that row `sending`; the next run's
`recover` queues it again under the same `webhook-id`, so the receiver, which deduplicates by
it, keeps one copy: at least once, never twice under two ids. Rows are read in batches but
taken one at a time, so a crash holds up one row, not a batch.

Before a data event goes out the consent rule is checked again against the brand's live flow:
every purpose of the data must still list the endpoint (storage/webhook_events.py). The attempt
is recorded as the endpoint having received the subject's data (`webhook_recipients`) in the
same commit as the claim: the receiver may keep the data even if its answer is lost.

A failed attempt (a non-2xx status, a timeout, a refused connection) is retried after an
exponential backoff with full jitter (a random wait up to `backoff_s * 2**(attempt-1)`, capped),
so receivers coming back from an outage are not hit by every sender at once; after `attempts`
it is `dead`: listed in the dead letters, and sent again only on `replay`.

The gateway runs `deliver_every` among its background tasks; `candor webhooks send` runs
`send_all` once. The database work runs in worker threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from bot.webhooks.signing import headers
from consent_flows.model import Flow
from storage import registry, webhook_events, webhook_queue, webhooks
from storage.crypto import KeyShredded
from storage.stores import Stores, StoreUnavailable, UnknownBrand
from storage.webhooks import PROPAGATED, WebhookEndpoint

log = logging.getLogger("candor.webhooks")
FlowLookup = Callable[[str], Flow]


class Clock:
    """Time as the loop sees it; tests pass one that moves on instead of sleeping."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        if seconds > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)


@dataclass
class Options:
    attempts: int = 8  # calls per delivery before it is dead
    backoff_s: float = 30.0  # the first retry within this long, the window doubling each time
    backoff_max_s: float = 6 * 3600.0
    timeout_s: float = 10.0  # per call: well under storage.webhooks.HOLD
    batch: int = 100


@dataclass(frozen=True)
class _Ready:
    id: str
    url: str
    secret: str
    body: str
    attempts: int


class Sender:
    """Sends one brand's due deliveries until none is due (or, `until_done`, none waits)."""

    def __init__(
        self,
        stores: Stores,
        brand: str,
        flow: FlowLookup | None = None,
        *,
        options: Options | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.stores, self.brand, self.flow = stores, brand, flow
        self.options = options or Options()
        self.clock = clock or Clock()
        self.rng = rng or random.Random()
        self.client = client
        self.counts: Counter[str] = Counter()

    def backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1)))."""
        window = min(self.options.backoff_max_s, self.options.backoff_s * 2 ** (attempt - 1))
        return self.rng.uniform(0, window)

    def recover(self) -> int:
        with self.stores.brand(self.brand) as session:
            found = webhook_queue.recover(session, now=self.clock.now())
            session.commit()
        self.counts["recovered"] += found
        return found

    async def run(self, *, until_done: bool = False, stop: asyncio.Event | None = None) -> Counter:
        stop = stop or asyncio.Event()
        await asyncio.to_thread(self.recover)
        owned = self.client is None
        client = self.client or httpx.AsyncClient(timeout=self.options.timeout_s)
        try:
            while not stop.is_set():
                due = await asyncio.to_thread(self._due)
                if not due:
                    wait = await asyncio.to_thread(self._wait, until_done)
                    if wait is None:
                        break
                    await self.clock.sleep(wait, stop)
                    continue
                for delivery_id in due:
                    if stop.is_set():
                        break
                    ready = await asyncio.to_thread(self._take, delivery_id)
                    if ready is not None:
                        status, error = await self._post(client, ready)
                        await asyncio.to_thread(self._settle, ready, status, error)
        finally:
            if owned:
                await client.aclose()
        return self.counts

    def _due(self) -> list[str]:
        with self.stores.brand(self.brand) as session:
            return webhook_queue.due(session, now=self.clock.now(), limit=self.options.batch)

    def _wait(self, until_done: bool) -> float | None:
        """Seconds until the next delivery falls due, if the run should wait for it."""
        if not until_done:
            return None
        with self.stores.brand(self.brand) as session:
            if not webhook_queue.waiting(session):
                return None
            at = webhook_queue.next_due(session)
        if at is None:  # only rows in flight elsewhere, or for disabled endpoints
            return None
        return max(0.0, (at - self.clock.now()).total_seconds())

    def _take(self, delivery_id: str) -> _Ready | None:
        now = self.clock.now()
        keyring = self.stores.keyring(self.brand)
        with self.stores.brand(self.brand) as session:
            row = webhook_queue.take(session, delivery_id, now=now)
            if row is None:
                return None
            endpoint = session.get(WebhookEndpoint, row.endpoint_id)
            assert endpoint is not None  # a foreign key
            why = self._not_allowed(endpoint, row.event, row.purpose) or None
            body = ""
            if why is None:
                try:
                    body = webhook_events.body_of(keyring, row)
                except KeyShredded:
                    why = "the subject was erased"
                if not body:
                    why = why or "its data is no longer kept (withdrawn, erased or delivered)"
            if why is not None:
                webhook_queue.settle(session, row, "cancelled", now=now, error=why)
                session.commit()
                self.counts["cancelled"] += 1
                return None
            webhook_events.record_sent(session, row, now=now)
            ready = _Ready(
                row.id, endpoint.url, webhooks.secret_of(keyring, endpoint), body, row.attempts
            )
            session.commit()
        return ready

    def _not_allowed(self, endpoint: WebhookEndpoint, event: str, purposes: str | None) -> str:
        """Why a data event may not go to this endpoint now ("" if it may)."""
        if event in PROPAGATED:
            return ""
        if not endpoint.active or endpoint.removed_at is not None:
            return "the endpoint is disabled or removed"
        if self.flow is None:
            return ""
        try:
            flow = self.flow(self.brand)
        except LookupError:
            return "the brand has no published flow"
        for purpose in (purposes or "").split(","):
            spec = flow.purposes.get(purpose)
            if spec is None or endpoint.name not in spec.recipients:
                return f"the live flow's purpose '{purpose}' does not list '{endpoint.name}'"
        return ""

    async def _post(self, client: httpx.AsyncClient, ready: _Ready) -> tuple[int | None, str]:
        """(status, error): status None when no answer came; error "" when delivered."""
        stamp = int(self.clock.now().timestamp())
        try:
            answer = await client.post(
                ready.url,
                content=ready.body.encode(),
                headers=headers(ready.secret, ready.id, stamp, ready.body),
                timeout=self.options.timeout_s,
            )
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: no answer"
        if 200 <= answer.status_code < 300:
            return answer.status_code, ""
        return answer.status_code, f"HTTP {answer.status_code}"

    def _settle(self, ready: _Ready, status: int | None, error: str) -> None:
        now = self.clock.now()
        with self.stores.brand(self.brand) as session:
            row = session.get(webhooks.WebhookDelivery, ready.id)
            if row is None or row.state != "sending":  # erased meanwhile, or recovered
                return
            if not error:
                webhook_queue.settle(session, row, "delivered", now=now, status=status)
                webhook_events.delivered(session, row)
                outcome = "delivered"
            elif row.attempts >= self.options.attempts:
                webhook_queue.settle(session, row, "dead", now=now, status=status, error=error)
                outcome = "dead"
            else:
                later = now + timedelta(seconds=self.backoff(row.attempts))
                webhook_queue.settle(
                    session, row, "queued", now=now, status=status, error=error, due_at=later
                )
                outcome = "retry"
            session.commit()
        self.counts[outcome] += 1


def _brands(stores: Stores) -> list[str]:
    with stores.registry() as session:
        return [b.slug for b in registry.list_brands(session)]


async def send_all(
    stores: Stores,
    flow: FlowLookup | None,
    *,
    brands: list[str] | None = None,
    until_done: bool = False,
    options: Options | None = None,
    client: httpx.AsyncClient | None = None,
    stop: asyncio.Event | None = None,
) -> dict[str, Counter]:
    """One pass over every brand (or `brands`): what each sent, retried, killed, cancelled."""
    chosen = brands if brands is not None else await asyncio.to_thread(_brands, stores)
    done: dict[str, Counter] = {}
    for brand in chosen:
        sender = Sender(stores, brand, flow, options=options, client=client)
        try:
            done[brand] = await sender.run(until_done=until_done, stop=stop)
        except (UnknownBrand, StoreUnavailable) as exc:
            log.warning("webhooks not sent brand=%s: %s", brand, type(exc).__name__)
    return done


DELIVER_EVERY_S = 5.0


async def deliver_every(
    stores: Stores, flow: FlowLookup, interval_s: float = DELIVER_EVERY_S
) -> None:
    """The gateway's background loop: every `interval_s`, send what is due for every brand."""
    async with httpx.AsyncClient(timeout=Options().timeout_s) as client:
        while True:
            await asyncio.sleep(interval_s)
            try:
                done = await send_all(stores, flow, client=client)
            except Exception as exc:  # keep the schedule alive; the next pass retries
                log.error("webhook delivery pass failed: %s", type(exc).__name__)
                continue
            for brand, counts in done.items():
                if any(counts.values()):  # a pass that did nothing says nothing (every 5 s)
                    log.info("webhooks brand=%s %s", brand, dict(counts))
