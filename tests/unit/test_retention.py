"""Retention: `purge` deletes data past each purpose's period, tested by moving the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from actions.consent_context import consent_context, purposes_summary
from actions.runtime import Runtime
from bot.brands import AUDIENCES, publish_audiences, publish_flow_file
from storage import ledger, records, rights
from storage.schema import ContentSent
from tests.factories import EXAMPLES
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
    assert done.expired == []


def test_data_past_retention_is_deleted_and_consent_expires(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    data = seeded(tmp_path, store_backend.stores())
    done = purge_at(data, 366)  # needs and frustrations keep 365 days
    assert (done.answers, done.tags, done.expired_consents) == (4, 2, 5)
    assert sorted(done.expired) == [
        ("alice", "frustrations"),
        ("alice", "needs"),
        ("alice", "tailored_content"),
        ("bob", "frustrations"),
        ("bob", "needs"),
    ]
    with data.stores.brand(BRAND) as session:
        assert records.answers_of(session, data.stores.keyring(BRAND), subject_id="alice") == []
        assert ledger.current(session, subject_id="alice", purpose="needs") is None
        events = [e.event for e in records.consents_of(session, subject_id="alice")]
        assert events.count("expired") == 3  # needs, frustrations, tailored_content
        assert not ledger.verify(session)[1]
    assert purge_at(data, 367).expired_consents == 0  # expiry is recorded once


def test_an_expired_consent_takes_everything_kept_under_it(
    tmp_path: Path, store_backend: StoreBackend
) -> None:
    """Issue 12, item 11: a consent given past retention expires, and with it the answers and
    tags kept under it since (however recent) and the content chosen from them ("because you
    told us about running"): the purge reports each expiry so the tracker can follow."""
    data = seeded(tmp_path, store_backend.stores())
    publish_flow_file(data.stores, EXAMPLES / "trailhead-outfitters.yaml")
    publish_audiences(data.stores, AUDIENCES)
    runtime = Runtime(stores=data.stores, control_threshold=0.8)
    long_ago = datetime.now(UTC) - timedelta(days=400)
    with data.stores.brand(BRAND) as session:
        records.ensure_subject(session, subject_id="carol", channel="web")
        needs = consent_context(
            data.flow, "needs", step_id="consent_needs", channel="web", method="button"
        )
        ledger.append(session, subject_id="carol", event="given", ctx=needs, at=long_ago)
        session.commit()
    data.answer("carol", "activity", "running")  # today, under the consent of 400 days ago
    data.tag("carol", "runner")
    data.consent("carol", "tailored_content")  # recent: stays in force
    with data.stores.brand(BRAND) as session:
        text = runtime.audiences.choose(
            session,
            data.stores.keyring(BRAND),
            brand=BRAND,
            flow=data.flow,
            subject_id="carol",
            fallback=None,
        )
        session.commit()
    assert text is not None
    assert "Because you told us about running" in text

    done = purge_at(data, 0)
    assert done.expired == [("carol", "needs")]
    assert (done.answers, done.tags) == (1, 1)
    with data.stores.brand(BRAND) as session:
        export = rights.export_subject(
            session,
            data.stores.keyring(BRAND),
            brand=BRAND,
            subject_id="carol",
            purposes=purposes_summary(data.flow),
        )
        assert export["answers"] == []
        assert export["tags"] == []
        assert export["content_sent"] == []
        assert ledger.current(session, subject_id="carol", purpose="tailored_content")
        kept = {c.subject_id for c in session.scalars(select(ContentSent))}
        assert kept == {"alice"}, "alice's generic item was chosen from nothing of hers"
        assert len(records.answers_of(session, data.stores.keyring(BRAND), subject_id="bob")) == 2
