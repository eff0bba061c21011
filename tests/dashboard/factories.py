"""A brand store with a crowd big enough for the dashboard: every figure non-trivial and >= k.

Thirty people answer the demo flow (`trailhead-outfitters`): consents, refusals and
withdrawals; activity and priorities (segments); free-text needs and frustrations on four
clear topics (themes); how they feel when they shop, over three ISO weeks, one of them below k
(emotions); and anonymous funnel counters. All writes go through the real storage code
(ledger, encryption); `expected` reads the figures back from the store the same way a brand
would check them, without the insights code.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.consent_context import consent_context
from actions.runtime import Runtime
from bot.brands import AUDIENCES, create_brand, publish_audiences
from consent_flows.model import Flow
from storage import funnel, records
from storage.insights import consent_rates
from storage.schema import Answer, Subject
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.factories_store import write_answer

BRAND = "trailhead-outfitters"
FLOW = EXAMPLES / "trailhead-outfitters.yaml"
K = 10  # min_size of the demo brand's segments

# Clear topics in customers' own words. Within a topic every answer has the same key words in
# the same order; other words are stop words or used once (TF-IDF drops those), so the themes
# are exactly these topics. Four are >= k; the gift vouchers (3) are below k and never shown.
JACKETS = [
    "a waterproof rain jacket",
    "a waterproof rain jacket for the Alps",
    "I'm after a waterproof rain jacket",
    "waterproof rain jacket with a hood",
    "a waterproof rain jacket in green",
    "need a waterproof rain jacket",
    "a waterproof rain jacket for my commute",
    "looking for a waterproof rain jacket",
    "a waterproof rain jacket that packs small",
    "breathable waterproof rain jacket",
    "waterproof rain jacket for Scotland",
    "my old one leaks, so a waterproof rain jacket",
    "a cheap waterproof rain jacket",
    "waterproof rain jacket, women's cut",
]

SHOES = [
    "trail running shoes",
    "trail running shoes with grip",
    "trail running shoes for mud",
    "trail running shoes, wide fit",
    "cushioned trail running shoes",
    "trail running shoes for ultras",
    "trail running shoes that drain water",
    "lightweight trail running shoes",
    "replacing worn trail running shoes",
    "trail running shoes for rocky paths",
    "new trail running shoes",
]

VOUCHERS = [
    "a gift voucher for my brother",
    "gift voucher for a birthday",
    "a gift voucher, any amount",
]

QUEUES = [
    "long queue at the till",
    "the long queue at the till on Saturday",
    "waiting in a long queue at the till",
    "long queue at the till and one cashier",
    "always a long queue at the till",
    "at lunchtime, a long queue at the till",
    "long queue at the till, so slow",
    "a long queue at the till before Christmas",
    "a long queue at the till when I'm in a hurry",
    "there's a long queue at the till",
    "long queue at the till on weekends",
    "I hate the long queue at the till",
    "long queue at the till with kids in tow",
    "the long queue at the till wastes an hour",
]

STOCK = [
    "my size is out of stock",
    "my size is always out of stock",
    "my size is out of stock online",
    "again my size is out of stock",
    "my size is never in stock",
    "my size is out of stock in store",
    "my size is out of stock, sold out",
    "my size is out of stock by noon",
    "my boot size is never in stock",
    "my size is out of stock in large",
    "my size is rarely in stock",
    "honestly my size is out of stock",
]
# Emotion answers per ISO week: two weeks at or above k, one below (must never be shown).
WEEKS = {
    datetime(2026, 11, 2, 10, tzinfo=UTC): ["happy"] * 5 + ["calm"] * 3 + ["frustrated"] * 4,
    datetime(2026, 11, 10, 15, tzinfo=UTC): ["happy"] * 3 + ["worried"] * 2 + ["angry"] * 6,
    datetime(2026, 11, 18, 9, tzinfo=UTC): ["sad"] * 2 + ["excited"] * 2,
}
# Anonymous funnel counters: step -> (reached, answered, skipped).
FUNNEL = {
    "activity": (36, 28, 3),
    "need": (14, 13, 1),
    "need_running": (14, 12, 1),
    "priorities": (27, 26, 1),
    "frustration": (26, 24, 2),
    "shopping_feeling": (24, 22, 0),
}


@dataclass
class Crowd:
    stores: Stores
    flow: Flow
    key: str
    _batch: Session | None = None

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Write everything inside in one transaction (seeding is faster, PostgreSQL above all)."""
        with self.stores.brand(BRAND) as session:
            self._batch = session
            try:
                yield
                session.commit()
            finally:
                self._batch = None

    @contextmanager
    def _session(self) -> Iterator[Session]:
        if self._batch is not None:
            yield self._batch
            return
        with self.stores.brand(BRAND) as session:
            yield session
            session.commit()

    def consent(self, subject: str, purpose: str, event: str) -> None:
        with self._session() as session:
            records.ensure_subject(session, subject_id=subject, channel="web")
            records.record_consent(
                session,
                subject_id=subject,
                event=event,
                ctx=consent_context(
                    self.flow, purpose, step_id=f"consent_{purpose}", channel="web", method="button"
                ),
            )

    def answer(
        self, subject: str, step: str, verbatim: str, value: Any = None, at: datetime | None = None
    ) -> None:
        with self._session() as session:
            row = write_answer(
                session,
                self.stores.keyring(BRAND),
                self.flow,
                subject,
                step,
                verbatim,
                conversation_id=f"{BRAND}:web:{subject}:c1",
                value=value,
            )
            if at is not None:
                row.created_at = row.updated_at = at
            session.flush()


def subject(n: int) -> str:
    return f"p{n:02d}"


def seed_crowd(stores: Stores, people: int = 30) -> Crowd:
    """Publish the demo brand and its segments, and write thirty people's survey into its store.

    With fewer `people`, the first ones of the same crowd (below k, nothing about people shows).
    """
    flow, key = create_brand(stores, FLOW)
    publish_audiences(stores, AUDIENCES)
    crowd = Crowd(stores, flow, key)
    with crowd.writing():
        # needs: 28 given, 2 refused. Runners p00-p13, hikers p14-p24, climbers p25-p27.
        for n in range(people):
            crowd.consent(subject(n), "needs", "requested")
            crowd.consent(subject(n), "needs", "given" if n < 28 else "refused")
        needs = iter([*JACKETS, *SHOES, *VOUCHERS])
        for n in range(min(28, people)):
            activity = "running" if n < 14 else "hiking" if n < 25 else "climbing"
            crowd.answer(subject(n), "activity", activity)
            step = "need_running" if activity == "running" else "need"
            crowd.answer(subject(n), step, next(needs))
            priorities = ["weight", "durability"] if n < 16 else ["price"]
            crowd.answer(subject(n), "priorities", ", ".join(priorities), priorities)
        # frustrations: p00-p25 given, p26-p27 refused; p00-p13 hate queues, p14-p25 lack stock.
        feelings = iter([(when, e) for when, es in WEEKS.items() for e in es])
        for n in range(min(28, people)):
            crowd.consent(subject(n), "frustrations", "requested")
            crowd.consent(subject(n), "frustrations", "given" if n < 26 else "refused")
        for n in range(min(26, people)):
            crowd.answer(subject(n), "frustration", [*QUEUES, *STOCK][n])
            when, emotion = next(feelings)
            crowd.answer(subject(n), "shopping_feeling", emotion, at=when)
        # tailored_content (segmentation): p00-p23 given, p24-p25 refused; p22, p23 withdraw.
        for n in range(min(26, people)):
            crowd.consent(subject(n), "tailored_content", "requested")
            crowd.consent(subject(n), "tailored_content", "given" if n < 24 else "refused")
        for n in (22, 23):
            if n < people:
                crowd.consent(subject(n), "tailored_content", "withdrawn")
        if people > 25:
            crowd.consent(subject(25), "frustrations", "withdrawn")
    with stores.brand(BRAND) as session:
        for step, (reached, answered, skipped) in FUNNEL.items():
            for event, times in (
                ("reached", reached),
                ("answered", answered),
                ("skipped", skipped),
            ):
                for _ in range(times):
                    funnel.bump(
                        session,
                        flow_id=flow.id,
                        flow_version=flow.version,
                        step_id=step,
                        event=event,
                    )
        session.commit()
    return crowd


def expected(stores: Stores) -> dict[tuple[str, str, str], float | None]:
    """The dashboard's figures read straight from the store: (table, key, measure) -> value.

    Funnel from the anonymous counters, consent from the ledger, segment sizes from a fresh
    membership computation, emotions by decrypting every emotion answer. Like the dashboard,
    leaves out segments and weeks below k.
    """
    runtime = Runtime(stores=stores, control_threshold=0.8)
    flow = runtime.flow(BRAND)
    audience = runtime.audiences.compute(BRAND, fresh=True)
    assert audience is not None
    out: dict[tuple[str, str, str], float | None] = {}
    keyring = stores.keyring(BRAND)
    with stores.brand(BRAND) as session:
        counters = funnel.totals(session)
        for step in flow.asks():
            for measure, value in counters.get(step, {}).items():
                out[("funnel", step, measure)] = value
        rates = consent_rates(session)
        for purpose, counts in rates.items():
            for measure, value in counts.items():
                out[("consent", purpose, measure)] = value
        out[("totals", "consent_decisions", "count")] = sum(
            c["given"] + c["refused"] for c in rates.values()
        )
        out[("totals", "withdrawals", "count")] = sum(c["withdrawn"] for c in rates.values())
        weeks: dict[str, Counter[str]] = defaultdict(Counter)
        for row in session.scalars(select(Answer).where(Answer.ask_type == "emotion")):
            weeks[row.created_at.strftime("%G-W%V")][records.view(row, keyring).value] += 1
        out[("totals", "answers", "count")] = session.scalar(
            select(func.count()).select_from(Answer)
        )
        people = session.execute(select(func.count()).select_from(Subject)).scalar_one()
    out[("totals", "people", "count")] = people if people >= K else None
    out[("totals", "segment_eligible", "count")] = audience.eligible
    for name, members in audience.members.items():
        if len(members) >= audience.min_size:
            out[("segments", name, "size")] = len(members)
    for week, counts in weeks.items():
        if counts.total() >= K:
            for emotion, n in counts.items():
                out[("emotions", week, emotion)] = n
    return out


def free_texts(stores: Stores) -> list[str]:
    """Every free-text answer, decrypted, newest first (what themes are found in)."""
    keyring = stores.keyring(BRAND)
    with stores.brand(BRAND) as session:
        rows = session.scalars(
            select(Answer).where(Answer.ask_type == "free_text").order_by(Answer.id.desc())
        )
        return [records.view(row, keyring).verbatim for row in rows]
