"""What the updates-delivery tests share: a brand whose flow asks people to follow it, followers
written through the real store, updates queued for them, and a clock the tests move."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bot.brands import publish_flow_file
from bot.channels.updates import Clock
from consent_flows.follow import Draft
from storage import follow
from storage.follow import Reach
from storage.schema import Follower, Subject
from storage.stores import Stores

BRAND = "follow-test"
PURPOSE = "updates"
FLOW = """brand: follow-test
version: 1
greeting: "Hi, I'm the Follow Test assistant, a bot."
purposes:
  needs:
    notice: "We'd like to keep what you're shopping for, to improve our range."
    retention_days: 365
    allows: [segmentation]
  updates:
    notice:
      why: "So that we can tell you about new gear for what you like."
    label: updates from us
    retention_days: 365
    allows: [updates]
    updates: {at_most: %(at_most)d, per: week, quiet_from: 21, quiet_until: 9}
steps:
  - consent: needs
  - ask: {id: need, purpose: needs, text: "What are you shopping for?"}
  - consent: updates
  - end: "Thanks!"
"""


def publish(stores: Stores, folder: Path, *, at_most: int = 1) -> None:
    path = folder / "follow-test.yaml"
    path.write_text(FLOW % {"at_most": at_most}, encoding="utf-8")
    publish_flow_file(stores, path)


@dataclass(frozen=True)
class Person:
    subject: str
    channel: str
    address: str
    language: str = "en"
    time_zone: str | None = None


def add_followers(stores: Stores, people: Iterable[Person]) -> None:
    """Followers written as the chat would, their addresses sealed with their keys."""
    keyring = stores.keyring(BRAND)
    with stores.brand(BRAND) as session:
        for p in people:
            session.add(Subject(subject_id=p.subject, channel=p.channel))
        session.flush()
        for p in people:
            follow.follow(
                session,
                keyring,
                subject_id=p.subject,
                channel=p.channel,
                address=p.address,
                purpose=PURPOSE,
                language=p.language,
                time_zone=p.time_zone,
            )
        session.commit()


def bulk_followers(stores: Stores, people: list[Person]) -> None:
    """Many followers at once (benchmarks): one INSERT per table, addresses sealed as usual."""
    keyring = stores.keyring(BRAND)
    with stores.brand(BRAND) as session:
        session.execute(
            insert(Subject), [{"subject_id": p.subject, "channel": p.channel} for p in people]
        )
        session.execute(
            insert(Follower),
            [
                {
                    "subject_id": p.subject,
                    "channel": p.channel,
                    "address_enc": keyring.encrypt(p.subject, p.address, "follower-address"),
                    "language": p.language,
                    "time_zone": p.time_zone,
                    "purpose": PURPOSE,
                }
                for p in people
            ],
        )
        session.commit()


def draft(texts: Mapping[str, Any] | None = None, title: str = "Winter tips") -> Draft:
    return Draft.model_validate(
        {
            "title": title,
            "texts": texts
            or {
                "en": {
                    "text": "Layer up: three tips for cold trails.",
                    "link": "https://example.com/winter",
                    "buttons": [{"title": "Shop", "url": "https://example.com/shop"}],
                }
            },
            "audience": {"segments": ["everyone"]},
        }
    )


def queue_update(
    stores: Stores, subjects: Iterable[str], now: datetime, the_draft: Draft | None = None
) -> str:
    """An update queued for these followers (the audience rules are the service's tests)."""
    with stores.brand(BRAND) as session:
        row = follow.compose(session, the_draft or draft())
        session.flush()
        follow.queue(session, row, Reach(set(subjects), None, 1), now=now)
        session.commit()
        return row.id


def progress(stores: Stores, update_id: str) -> dict[str, int]:
    with stores.brand(BRAND) as session:
        return follow.progress(session, update_id)


@dataclass
class MovedClock(Clock):
    """A clock that moves only when the loop sleeps: waits take no real time, and a test can
    move it on (`at`) to see what the cap or quiet hours let through later."""

    t: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 12, tzinfo=UTC))
    m: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def now(self) -> datetime:
        return self.t

    def monotonic(self) -> float:
        return self.m

    async def sleep(self, seconds: float, stop: asyncio.Event) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self.t += timedelta(seconds=seconds)
            self.m += seconds
        await asyncio.sleep(0)

    def at(self, when: datetime) -> MovedClock:
        self.t = when
        return self
