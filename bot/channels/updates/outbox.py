"""The delivery loop: updates from the brand's queue to followers on Telegram and Slack.

One worker per channel, each with one message in flight: a delivery is taken (state `sending`)
and committed before the platform call, and settled and committed after it, so a `kill -9`
leaves at most that one row `sending`, which the next run's `recover` marks `unknown` and never
sends again (storage/follow.py). Rows are read in batches but taken one at a time: a taken
batch would turn into a batch of `unknown` on a crash.

Before each send the follower's promise is checked again: the cap and quiet hours of the
purpose they agreed to (`consent_flows.follow.slot`), in their time zone; a delivery that may
not go yet is `deferred` to the slot. The platform's own limits are kept by a pace per channel
(Telegram ~25 messages/s per bot, Slack ~1/s for `chat.postMessage`) and, on a 429, by waiting
what the platform asked and sending the same message again (not counted as a failure).

The web widget's deliveries are not sent here: they wait in the widget's inbox.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from bot.channels.updates.senders import (
    ChannelBroken,
    LinkButton,
    Message,
    Outcome,
    RateLimited,
    Sender,
)
from consent_flows.follow import Draft, slot
from consent_flows.model import Flow, UpdatesPolicy
from storage import follow
from storage.schema import Delivery, Follower, Update
from storage.stores import Keyring, Stores

PACES = {"telegram": 25.0, "slack": 1.0}  # messages per second, per bot
UNFOLLOW = {
    "en": "Unfollow",
    "de": "Nicht mehr folgen",
    "fr": "Ne plus suivre",
    "es": "Dejar de seguir",
    "it": "Smetti di seguire",
    "nl": "Ontvolgen",
}
OPEN_LINK = {"en": "Open", "de": "Öffnen", "fr": "Ouvrir", "es": "Abrir", "it": "Apri"}


def unfollow_payload(purpose: str) -> str:
    """What the Unfollow button sends: the chat's withdrawal of that one purpose, the payload
    the privacy menu's buttons use (consent_flows/rights.py), so "stop updates" is recorded
    in the ledger like any withdrawal."""
    return "/withdraw_consent" + json.dumps({"purpose": purpose})


def _utc(at: datetime) -> datetime:
    """SQLite gives back naive datetimes; the store writes UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class Clock:
    """Time as the loop sees it; tests move a fake one instead of sleeping."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        """Sleep, or less if `stop` is set meanwhile."""
        if seconds > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)


class Pace:
    """At most `rate` sends a second, evenly spaced (no bursts for the platform to punish)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.clock = clock
        self._next = 0.0

    async def wait(self, stop: asyncio.Event) -> None:
        now = self.clock.monotonic()
        at = max(self._next, now)
        self._next = at + self.interval
        await self.clock.sleep(at - now, stop)

    def hold(self, seconds: float) -> None:
        """The platform said "not before `seconds`": nothing goes before then."""
        self._next = max(self._next, self.clock.monotonic() + seconds)


@dataclass
class Options:
    attempts: int = 5  # platform calls per delivery before it is `failed`
    backoff_s: float = 30.0  # first retry after about this long, doubling
    backoff_max_s: float = 3600.0
    batch: int = 200  # ids read at a time (each is still taken alone)
    paces: Mapping[str, float] = field(default_factory=lambda: dict(PACES))


Progress = Callable[[str, str], None]  # (channel, what happened: a state, "retry" or "429")


class Outbox:
    """Sends one brand's due deliveries (of one update, or all) until none is due, or, with
    `until_done`, until none is waiting at all; `stop` ends it after the message in flight."""

    def __init__(
        self,
        stores: Stores,
        brand: str,
        flow: Callable[[str], Flow],
        senders: Mapping[str, Sender],
        *,
        update_id: str | None = None,
        options: Options | None = None,
        clock: Clock | None = None,
        progress: Progress | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.stores, self.brand, self.flow, self.senders = stores, brand, flow, dict(senders)
        self.update_id = update_id
        self.options = options or Options()
        self.clock = clock or Clock()
        self.progress = progress or (lambda channel, what: None)
        self.rng = rng or random.Random()
        self.counts: Counter[str] = Counter()
        self.broken: dict[str, str] = {}  # channel -> why the platform refused the bot
        self._drafts: dict[str, Draft] = {}
        self._touched: set[str] = set()

    def recover(self) -> int:
        """Rows a killed sender left `sending`: `unknown`, never sent again."""
        with self.stores.brand(self.brand) as session:
            found = follow.recover(session, now=self.clock.now())
            session.commit()
        self.counts["recovered"] += found
        return found

    def waiting(self) -> int:
        """Deliveries this run could send (queued or deferred, on a channel it pushes to)."""
        with self.stores.brand(self.brand) as session:
            return follow.waiting(session, channels=self.senders, update_id=self.update_id)

    async def run(self, *, until_done: bool = False, stop: asyncio.Event | None = None) -> Counter:
        stop = stop or asyncio.Event()
        self._never = asyncio.Event()
        self.recover()
        opened: list[Sender] = []
        try:
            for sender in self.senders.values():
                try:
                    await sender.open()
                    opened.append(sender)
                except ChannelBroken as exc:
                    self.broken[sender.channel] = str(exc)
            await asyncio.gather(*(self._worker(s, until_done, stop) for s in opened))
        finally:
            for sender in opened:
                await sender.close()
            self._finish()
        return self.counts

    async def _worker(self, sender: Sender, until_done: bool, stop: asyncio.Event) -> None:
        channel = sender.channel
        pace = Pace(self.options.paces.get(channel, PACES.get(channel, 1.0)), self.clock)
        after = 0
        while not stop.is_set():
            with self.stores.brand(self.brand) as session:
                due = follow.due(
                    session,
                    now=self.clock.now(),
                    limit=self.options.batch,
                    channels=[channel],
                    update_id=self.update_id,
                    after=after,
                )
            if not due:
                if after:  # end of a pass: start again for rows that fell due meanwhile
                    after = 0
                    continue
                wait = self._next_wait(channel, until_done)
                if wait is None:
                    return
                await self.clock.sleep(wait, stop)
                continue
            # Per batch: the flow as published now, and the batch's keys unwrapped in one read.
            flow = self.flow(self.brand)
            keyring = self.stores.keyring(self.brand)
            keyring.preload(subject for _, subject in due)
            for delivery_id, _ in due:
                if stop.is_set():
                    return
                after = delivery_id
                try:
                    await self._one(sender, pace, delivery_id, stop, flow, keyring)
                except ChannelBroken as exc:
                    self.broken[channel] = str(exc)
                    return

    def _next_wait(self, channel: str, until_done: bool) -> float | None:
        """Seconds until the next delivery falls due, or None when this run is done: without
        `until_done`, only retries are waited for (the cap's deferrals go to a later run)."""
        with self.stores.brand(self.brand) as session:
            at = follow.next_due(
                session, channels=[channel], update_id=self.update_id, retries=not until_done
            )
        if at is None:
            return None
        return max(0.0, (_utc(at) - self.clock.now()).total_seconds())

    async def _one(
        self,
        sender: Sender,
        pace: Pace,
        delivery_id: int,
        stop: asyncio.Event,
        flow: Flow,
        keyring: Keyring,
    ) -> None:
        """Take one delivery, check the follower's promise, send it, settle it."""
        now = self.clock.now()
        with self.stores.brand(self.brand) as session:
            delivery = follow.take(session, delivery_id, now=now)
            if delivery is None:
                return
            self._touched.add(delivery.update_id)
            ready = self._prepare(session, delivery, now, flow, keyring)
            session.commit()  # taken before the call: a crash now is `unknown`, never a resend
            if isinstance(ready, str):
                self._count(sender.channel, ready)
                return
            address, message = ready
            try:
                outcome = await self._call(sender, pace, address, message, stop)
            except ChannelBroken:
                self._put_back(session, delivery, now)
                raise
            except BaseException:  # cancelled or crashed mid-call: it may have arrived
                follow.settle(
                    session, delivery, "unknown", now=now, error="stopped during the call"
                )
                session.commit()
                raise
            if outcome is None:  # stopped while waiting out a rate limit: it was not sent
                self._put_back(session, delivery, now)
                return
            self._settle(session, delivery, outcome)
            session.commit()
            self._count(sender.channel, "retry" if delivery.state == "queued" else delivery.state)

    @staticmethod
    def _put_back(session: Session, delivery: Delivery, now: datetime) -> None:
        """A delivery taken but not sent goes back to the queue, its try not counted."""
        delivery.attempts -= 1
        follow.settle(session, delivery, "queued", now=now, due_at=now)
        session.commit()

    def _prepare(
        self, session: Session, delivery: Delivery, now: datetime, flow: Flow, keyring: Keyring
    ) -> tuple[str, Message] | str:
        """The address and message for a delivery that may go now; else its new state, settled."""
        follower = session.get(Follower, delivery.subject_id)
        if follower is None:  # unfollowed since it was queued
            follow.settle(session, delivery, "unfollowed", now=now)
            return "unfollowed"
        if follower.unreachable_at is not None:
            follow.settle(session, delivery, "unreachable", now=now, error="known unreachable")
            return "unreachable"
        policy = _policy(flow, follower.purpose)
        since = now - timedelta(days=policy.window_days)
        sent = [_utc(t) for t in follow.sent_to(session, follower.subject_id, since)]
        at = slot(policy, now, sent, follower.time_zone)
        if at > now:
            delivery.attempts -= 1  # a deferral is not a try
            follow.settle(session, delivery, "deferred", now=now, due_at=at)
            return "deferred"
        address = follow.address_of(keyring, follower)
        if not address:
            follow.settle(session, delivery, "unreachable", now=now, error="no address")
            return "unreachable"
        draft = self._draft(session, delivery.update_id)
        language = follower.language or flow.language[:2]
        wording = draft.wording(language, flow.language[:2])
        links = [LinkButton(OPEN_LINK.get(language, "Open"), str(wording.link))] * bool(
            wording.link
        )
        links += [LinkButton(b.title, str(b.url)) for b in wording.buttons]
        message = Message(
            text=wording.text,
            links=tuple(links),
            unfollow_title=UNFOLLOW.get(language, UNFOLLOW["en"]),
            unfollow_payload=unfollow_payload(follower.purpose),
        )
        return address, message

    def _draft(self, session: Session, update_id: str) -> Draft:
        draft = self._drafts.get(update_id)
        if draft is None:
            row = session.get(Update, update_id)
            assert row is not None
            draft = self._drafts[update_id] = follow.draft_of(row)
        return draft

    async def _call(
        self, sender: Sender, pace: Pace, address: str, message: Message, stop: asyncio.Event
    ) -> Outcome | None:
        """Send at the channel's pace; a rate limit is waited out and the same message sent
        again. None: asked to stop while waiting out a rate limit (nothing was sent)."""
        while True:
            await pace.wait(self._never)  # the pace is short: not cut by `stop`
            try:
                return await sender.send(address, message)
            except RateLimited as limited:
                self.counts["rate_limited"] += 1
                self.progress(sender.channel, "429")
                pace.hold(limited.seconds)
                await self.clock.sleep(limited.seconds, stop)
                if stop.is_set():
                    return None

    def _settle(self, session: Session, delivery: Delivery, outcome: Outcome) -> None:
        now = self.clock.now()
        if outcome.state != "retry":
            follow.settle(session, delivery, outcome.state, now=now, error=outcome.error)
            return
        if delivery.attempts >= self.options.attempts:
            follow.settle(session, delivery, "failed", now=now, error=outcome.error)
            return
        delay = min(
            self.options.backoff_s * 2 ** (delivery.attempts - 1), self.options.backoff_max_s
        )
        delay *= self.rng.uniform(0.5, 1.0)  # jitter: retries of a whole batch spread out
        due = now + timedelta(seconds=delay)
        follow.settle(session, delivery, "queued", now=now, due_at=due, error=outcome.error)

    def _count(self, channel: str, what: str) -> None:
        self.counts[what] += 1
        self.progress(channel, what)

    def _finish(self) -> None:
        """Updates with nothing left waiting are marked sent."""
        if not self._touched:
            return
        with self.stores.brand(self.brand) as session:
            for update_id in self._touched:
                row = session.get(Update, update_id)
                if row is not None:
                    follow.finish_if_done(session, row)
            session.commit()


def _policy(flow: Flow, purpose: str) -> UpdatesPolicy:
    """The cap and quiet hours the follower agreed to: their purpose's, else the flow's
    follow purpose's, else the defaults every notice states."""
    for name in (purpose, flow.follow_purpose):
        spec = flow.purposes.get(name or "")
        if spec is not None and spec.follow is not None:
            return spec.follow
    return UpdatesPolicy()
