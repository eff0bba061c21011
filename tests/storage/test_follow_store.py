"""The follow queue in a real store (SQLite and PostgreSQL): queued once, claimed once, a sender
that dies mid-call never sends again, unfollowing closes what waits, erasure leaves nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consent_flows.follow import Draft
from storage import follow, records, rights
from storage.schema import Delivery, Follower
from storage.stores import Stores
from tests.factories_store import BRAND, seeded
from tests.pg import StoreBackend

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
K = 5
PEOPLE = [f"p{i:02d}" for i in range(12)]


def draft(**audience: object) -> Draft:
    return Draft.model_validate(
        {
            "title": "Winter tips",
            "texts": {"en": {"text": "Layer up: three tips for cold trails."}},
            "audience": audience or {"segments": ["runners"]},
        }
    )


@pytest.fixture
def stores(tmp_path: Path, store_backend: StoreBackend) -> Stores:
    data = seeded(tmp_path, store_backend.stores())
    with data.stores.brand(BRAND) as session:
        for n, subject in enumerate(PEOPLE):
            records.ensure_subject(session, subject_id=subject, channel="telegram")
            follow.follow(
                session,
                data.stores.keyring(BRAND),
                subject_id=subject,
                channel="telegram" if n % 2 else "slack",
                address=f"platform-id-{n}",
                purpose="updates",
            )
        session.commit()
    return data.stores


SEGMENTS = {"runners": set(PEOPLE), "hikers": set(PEOPLE[:6])}


def test_queued_once_claimed_once_and_at_most_once_after_a_crash(stores: Stores) -> None:
    with stores.brand(BRAND) as session:
        reach = follow.reach(session, draft(), SEGMENTS, K, ())
        assert reach.refusal is None
        row = follow.compose(session, draft())
        session.flush()
        assert follow.queue(session, row, reach, now=NOW) == len(PEOPLE)
        assert follow.queue(session, row, reach, now=NOW) == 0  # a resend adds nobody
        session.commit()
        first = follow.claim(session, now=NOW, limit=5)
        session.commit()
        again = follow.claim(session, now=NOW, limit=100)
        session.commit()
        assert not {d.id for d in first} & {d.id for d in again}
        assert len(first) + len(again) == len(PEOPLE)
        for d in again:
            follow.settle(session, d, "sent", now=NOW)
        session.commit()
        # The process holding `first` dies mid-call: after the hold they are unknown, never resent.
        later = NOW + follow.HOLD + timedelta(seconds=1)
        assert follow.recover(session, now=later) == 5
        session.commit()
        assert follow.claim(session, now=later, limit=100) == []
        counts = follow.progress(session, row.id)
        assert counts["sent"] == len(PEOPLE) - 5
        assert counts["unknown"] == 5


def test_unfollow_closes_what_waits_and_erasure_removes_every_trace(stores: Stores) -> None:
    with stores.brand(BRAND) as session:
        row = follow.compose(session, draft())
        session.flush()
        follow.queue(session, row, follow.reach(session, draft(), SEGMENTS, K, ()), now=NOW)
        session.commit()
        assert follow.unfollow(session, subject_id="p03") == 1
        session.commit()
        assert not follow.is_following(session, "p03")
        state = session.scalar(select(Delivery.state).where(Delivery.subject_id == "p03"))
        assert state == "unfollowed"
        follow.erase(session, subject_id="p04")
        session.commit()
        left = session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.subject_id == "p04")
        )
        assert left == 0
        assert session.get(Follower, "p04") is None


def test_the_address_is_sealed_with_the_subjects_key(stores: Stores) -> None:
    keyring = stores.keyring(BRAND)
    with stores.brand(BRAND) as session:
        row = session.get(Follower, "p07")
        assert row is not None
        assert "platform-id-7" not in (row.address_enc or "")
        assert follow.address_of(keyring, row) == "platform-id-7"


@pytest.mark.parametrize(
    ("audience", "refused"),
    [
        ({"segments": ["hikers"]}, None),
        ({"segments": ["runners"], "except": ["hikers"]}, None),
        ({"segments": ["runners", "hikers"], "match": "all"}, None),
        ({"segments": ["runners", "climbers"], "match": "all"}, "differs from the segment"),
        ({"segments": ["tiny"]}, "no segment"),
    ],
)
def test_audience_rules_on_the_stores_followers(
    stores: Stores, audience: dict[str, object], refused: str | None
) -> None:
    segments = {**SEGMENTS, "hikers": set(PEOPLE[:7]), "climbers": set(PEOPLE[:9])}
    with stores.brand(BRAND) as session:
        reach = follow.reach(session, draft(**audience), segments, K, ())
        channels = follow.channels_of(session, reach.members)
    if refused is None:
        assert reach.refusal is None
        preview = reach.preview(channels)
        assert preview["allowed"]
        assert preview["reach"] >= K
    else:
        assert reach.refusal is not None
        assert refused in reach.refusal.message


def test_a_withdrawal_of_the_follow_purpose_unfollows(stores: Stores) -> None:
    keyring = stores.keyring(BRAND)
    with stores.brand(BRAND) as session:
        rights.erase_purpose(session, keyring, subject_id="p05", purpose="needs")
        assert follow.is_following(session, "p05")  # another purpose: still following
        rights.erase_purpose(session, keyring, subject_id="p05", purpose="updates")
        session.commit()
        assert not follow.is_following(session, "p05")
