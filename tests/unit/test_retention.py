"""Retention: `purge` deletes data past each purpose's period, tested by moving the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from actions.consent_context import consent_context
from storage import ledger, records, rights
from tests.factories_store import BRAND, seeded
from tests.pg import StoreBackend


def purge_at(data, days: int) -> rights.Purged:
    retention = {p: s.retention_days for p, s in data.flow.purposes.items()}
    contexts = {
        p: consent_context(data.flow, p, step_id="retention", channel="system", method="system")
        for p in data.flow.purposes
    }
    with data.stores.brand(BRAND) as session:
        done = rights.purge(
            session,
            retention_days=retention,
            contexts=contexts,
            now=datetime.now(UTC) + timedelta(days=days),
        )
        session.commit()
    return done


def test_nothing_is_purged_within_retention(tmp_path: Path, store_backend: StoreBackend) -> None:
    data = seeded(tmp_path, store_backend.stores())
    done = purge_at(data, 30)
    assert (done.answers, done.tags, done.expired_consents) == (0, 0, 0)


def test_data_past_retention_is_deleted_and_consent_expires(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    done = purge_at(data, 366)  # needs and frustrations keep 365 days
    assert (done.answers, done.tags, done.expired_consents) == (4, 2, 5)
    with data.stores.brand(BRAND) as session:
        assert records.answers_of(session, data.stores.keyring(BRAND), subject_id="alice") == []
        assert ledger.current(session, subject_id="alice", purpose="needs") is None
        events = [e.event for e in records.consents_of(session, subject_id="alice")]
        assert events.count("expired") == 3  # needs, frustrations, tailored_content
        assert not ledger.verify(session)[1]
    assert purge_at(data, 367).expired_consents == 0  # expiry is recorded once
