"""The retention purge finds due consents in one query and appends their expiry events in
one statement (`ledger.append_many`): the same events and chain as one `append` at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from actions.consent_context import consent_context
from storage import ledger, records, rights
from storage.schema import ConsentEvent
from tests.factories_store import BRAND, Seeded, seeded
from tests.pg import StoreBackend

T0 = datetime(2025, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def data(tmp_path: Path, store_backend: StoreBackend) -> Seeded:
    return seeded(tmp_path, store_backend.stores())


def ctx(data: Seeded, purpose: str, step: str = "retention"):
    return consent_context(data.flow, purpose, step_id=step, channel="system", method="system")


def test_append_many_chains_like_append_one_at_a_time(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        records.ensure_subject(session, subject_id="carol", channel="web")
        head = session.scalar(select(ConsentEvent.seq).order_by(ConsentEvent.seq.desc()).limit(1))
        assert head is not None
        one = ledger.append(
            session, subject_id="carol", event="expired", ctx=ctx(data, "needs"), at=T0
        )
        added = ledger.append_many(
            session,
            [
                ("alice", "expired", ctx(data, "needs")),
                ("bob", "expired", ctx(data, "frustrations")),
            ],
            at=T0,
        )
        assert ledger.append_many(session, [], at=T0) == 0
        last = ledger.append(session, subject_id="carol", event="given", ctx=ctx(data, "needs"))
        session.commit()
        assert added == 2
        assert last.seq == head + 4
        assert ledger.verify(session) == (head + 4, [])
        rows = list(session.scalars(select(ConsentEvent).where(ConsentEvent.seq > head + 1)))
        assert [(r.seq, r.subject_id, r.event, r.purpose) for r in rows[:2]] == [
            (head + 2, "alice", "expired", "needs"),
            (head + 3, "bob", "expired", "frustrations"),
        ]
        bulk = ledger.payload(rows[0])
        single = ledger.payload(one)
        assert bulk["record_id"] != single["record_id"]
        assert {**bulk, "record_id": "", "subject_id": ""} == {
            **single,
            "record_id": "",
            "subject_id": "",
        }
        with pytest.raises(ValueError, match="unknown consent event 'forgotten'"):
            ledger.append_many(session, [("alice", "forgotten", ctx(data, "needs"))])


def test_only_consents_in_force_and_older_than_retention_expire(data: Seeded) -> None:
    now = datetime.now(UTC) + timedelta(days=400)  # seeded consents (now) are past 365 days
    with data.stores.brand(BRAND) as session:
        for subject in ("dana", "erin", "finn"):
            records.ensure_subject(session, subject_id=subject, channel="web")
        needs = ctx(data, "needs", "consent_needs")
        # dana: given recently (within retention) -> stays
        ledger.append(session, subject_id="dana", event="given", ctx=needs, at=now)
        # erin: given long ago, then withdrawn -> nothing in force, nothing to expire
        ledger.append(session, subject_id="erin", event="given", ctx=needs)
        ledger.append(session, subject_id="erin", event="withdrawn", ctx=needs)
        # finn: given long ago, refused, then given again recently -> stays
        ledger.append(session, subject_id="finn", event="given", ctx=needs)
        ledger.append(session, subject_id="finn", event="refused", ctx=needs)
        ledger.append(session, subject_id="finn", event="given", ctx=needs, at=now)
        session.commit()
        retention = {p: s.retention_days for p, s in data.flow.purposes.items()}
        contexts = {p: ctx(data, p) for p in data.flow.purposes}
        done = rights.purge(session, retention_days=retention, contexts=contexts, now=now)
        session.commit()
        expired = [
            (e.subject_id, e.purpose)
            for e in session.scalars(
                select(ConsentEvent)
                .where(ConsentEvent.event == "expired")
                .order_by(ConsentEvent.seq)
            )
        ]
        # seeded: alice and bob gave needs and frustrations, alice tailored_content; per purpose,
        # the oldest consent first
        assert expired == [
            ("alice", "needs"),
            ("bob", "needs"),
            ("alice", "frustrations"),
            ("bob", "frustrations"),
            ("alice", "tailored_content"),
        ]
        assert done.expired_consents == 5
        assert done.expired == expired  # what the caller clears from the engine's tracker
        assert ledger.verify(session)[1] == []
        for subject in ("alice", "bob", "erin"):
            assert ledger.current(session, subject_id=subject, purpose="needs") is None
        for subject in ("dana", "finn"):
            assert ledger.current(session, subject_id=subject, purpose="needs") is not None
        again = rights.purge(session, retention_days=retention, contexts=contexts, now=now)
        assert again.expired_consents == 0
        assert again.expired == []
