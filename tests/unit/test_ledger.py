"""The hash-chained consent ledger detects any edited, removed or reordered event."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import MetaData, Table, delete, insert, select, update
from typer.testing import CliRunner

from actions.consent_context import consent_context
from consent_flows import notices
from consent_flows.loader import load_flow_file
from storage import ledger, records
from storage.schema import Answer, ConsentEvent, SubjectTag
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, Seeded, seeded
from tests.pg import StoreBackend


@pytest.fixture
def data(tmp_path: Path, store_backend: StoreBackend) -> Seeded:
    return seeded(tmp_path, store_backend.stores())


def problems(data: Seeded) -> list[str]:
    with data.stores.brand(BRAND) as session:
        return [p.problem for p in ledger.verify(session)[1]]


def tamper(data: Seeded, statement) -> None:
    with data.stores.brand(BRAND) as session:
        session.execute(statement)
        session.commit()


def test_intact_ledger_verifies(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        checked, found = ledger.verify(session)
    assert checked == 10
    assert found == []


def test_events_carry_the_consent_record_fields(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        row = session.scalars(select(ConsentEvent).order_by(ConsentEvent.seq)).first()
        assert row is not None
        body = ledger.payload(row)
    for field in (
        "record_id",
        "schema_version",
        "jurisdiction",
        "language",
        "subject_id",
        "controller",
        "purpose",
        "purpose_category",
        "consent_type",
        "data_categories",
        "sensitive",
        "third_party_disclosure",
        "retention_days",
        "withdrawal_method",
        "collection_method",
        "notice_version",
        "notice_sha256",
        "flow_version",
        "timestamp",
    ):
        assert body.get(field) not in (None, ""), field
    assert body["consent_type"] == "explicit"
    assert body["third_party_disclosure"] == "none"
    # Recorded with no prompt shown: the purpose's short notice is what it names.
    notice = notices.shown(data.flow, "needs", more=False)
    assert body["notice_sha256"] == ledger.digest(notice)
    receipt = ledger.receipt(row)
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["piiPrincipalId"] == "alice"


def test_edited_payload_is_detected(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        row = session.scalar(select(ConsentEvent).where(ConsentEvent.seq == 2))
        assert row is not None
        assert row.payload_json is not None
        edited = row.payload_json.replace('"given"', '"refused"')
    tamper(data, update(ConsentEvent).where(ConsentEvent.seq == 2).values(payload_json=edited))
    assert any("edited" in p for p in problems(data))


def test_edited_column_is_detected(data: Seeded) -> None:
    tamper(data, update(ConsentEvent).where(ConsentEvent.seq == 3).values(event="refused"))
    assert any("edited" in p for p in problems(data))


def test_removed_event_is_detected(data: Seeded) -> None:
    tamper(data, delete(ConsentEvent).where(ConsentEvent.seq == 1))
    assert any("removed" in p for p in problems(data))


def test_removed_last_event_is_detected(data: Seeded) -> None:
    tamper(data, delete(ConsentEvent).where(ConsentEvent.seq == 10))
    assert any("last events were removed" in p for p in problems(data))


def test_reordered_events_are_detected(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        a, b = session.scalars(
            select(ConsentEvent).where(ConsentEvent.seq.in_((2, 3))).order_by(ConsentEvent.seq)
        ).all()
        fields = (
            "record_id",
            "subject_id",
            "event",
            "purpose",
            "payload_json",
            "created_at",
            "prev_hash",
            "payload_digest",
            "hash",
        )
        first, second = ({f: getattr(a, f) for f in fields}, {f: getattr(b, f) for f in fields})
        a.record_id = b.record_id = None
        session.flush()
        for f in fields:
            setattr(a, f, second[f])
            setattr(b, f, first[f])
        session.commit()
    assert problems(data)


def test_redacting_a_subject_keeps_the_chain_verifiable(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        alice = [e.seq for e in ledger.events_of(session, subject_id="alice")]
        assert ledger.redact_subject(session, subject_id="alice") == 5
        session.commit()
        checked, found = ledger.verify(session)
        left = session.scalars(
            select(ConsentEvent.payload_json).where(ConsentEvent.redacted.is_(True))
        ).all()
        erasure = session.scalar(select(ConsentEvent).where(ConsentEvent.event == "erased"))
    assert erasure is not None
    assert checked == 11
    assert found == []
    assert left == [None] * 5
    # The erasure event lists the cleared rows and says nothing else about the subject.
    assert erasure.seq == 11
    assert erasure.subject_id is None
    assert erasure.purpose is None
    assert ledger.payload(erasure)["redacted_seqs"] == alice
    assert set(ledger.payload(erasure)) == {
        "record_id",
        "schema_version",
        "event",
        "redacted_seqs",
        "timestamp",
    }
    assert "alice" not in " ".join(str(v) for v in vars(erasure).values())


def test_erasing_a_subject_without_events_appends_nothing(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        assert ledger.redact_subject(session, subject_id="nobody") == 0
        assert ledger.verify(session) == (10, [])


def test_only_an_erasure_appends_an_erased_event(data: Seeded) -> None:
    ctx = consent_context(data.flow, "needs", step_id="s", channel="api", method="api")
    with data.stores.brand(BRAND) as session:
        with pytest.raises(ValueError, match="unknown consent event 'erased'"):
            ledger.append(session, subject_id="bob", event="erased", ctx=ctx)
        with pytest.raises(ValueError, match="unknown consent event 'erased'"):
            ledger.append_many(session, [("bob", "erased", ctx)])


def test_timestamps_in_any_zone_read_back_as_signed(data: Seeded) -> None:
    """SQLite keeps a timestamp's wall clock and drops its offset: events are signed in UTC,
    so `created_at` matches the signed time whatever zone the caller's clock was in."""
    ctx = consent_context(data.flow, "needs", step_id="s", channel="api", method="api")
    with data.stores.brand(BRAND) as session:
        for at in (
            datetime(2027, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime(2027, 3, 1, 9, 30, 0, 123456),
        ):
            ledger.append(session, subject_id="bob", event="requested", ctx=ctx, at=at)
        session.commit()
        assert ledger.verify(session) == (12, [])


def test_in_force_says_what_current_says(data: Seeded) -> None:
    """The bulk check (segments) and the one-subject check agree, before and after forgeries
    of either kind: a column edited, or a predecessor's hash edited."""
    data.consent("bob", "tailored_content", "given")
    data.consent("alice", "frustrations", "withdrawn")
    pairs = [(s, p) for s in ("alice", "bob") for p in data.flow.purposes]

    def both() -> tuple[set, set]:
        with data.stores.brand(BRAND) as session:
            bulk = {(c.subject_id, c.purpose) for c in ledger.in_force(session, data.flow.purposes)}
            one = {
                (s, p)
                for s, p in pairs
                if ledger.current(session, subject_id=s, purpose=p) is not None
            }
        return bulk, one

    bulk, one = both()
    assert bulk == one
    assert bulk == {
        ("alice", "needs"),
        ("alice", "tailored_content"),
        ("bob", "needs"),
        ("bob", "frustrations"),
        ("bob", "tailored_content"),
    }
    with data.stores.brand(BRAND) as session:
        given = {
            e.purpose: e.seq
            for e in ledger.events_of(session, subject_id="bob")
            if e.event == "given"
        }
    events = cast(Table, ConsentEvent.__table__)
    tamper(data, update(events).where(events.c.seq == given["needs"]).values(purpose="sdeen"))
    tamper(
        data, update(events).where(events.c.seq == given["frustrations"] - 1).values(hash="f" * 64)
    )
    bulk, one = both()
    assert bulk == one
    assert bulk == {("alice", "needs"), ("alice", "tailored_content"), ("bob", "tailored_content")}


def test_given_at_is_the_signed_time(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        consents = ledger.in_force(session, ("needs",))
        rows = {r.seq: r for r in session.scalars(select(ConsentEvent))}
    assert [c.subject_id for c in consents] == ["alice", "bob"]
    for c in consents:
        signed = datetime.fromisoformat(ledger.payload(rows[c.seq])["timestamp"])
        assert c.given_at == signed
        assert c.given_at.tzinfo is not None


def test_remembered_verdicts_still_catch_every_edit(
    data: Seeded, caplog: pytest.LogCaptureFixture
) -> None:
    """`in_force` remembers the verdicts of the rows it read whole, by their full content: a
    row edited after a read is checked (and reported) again at every read, the untouched ones
    give what a first read gives, and an erasure leaves no event of the subject remembered."""
    import logging

    with data.stores.brand(BRAND) as session:
        first = ledger.in_force(session, ("needs",))
        assert ledger.in_force(session, ("needs",)) == first  # from memory
    assert [c.subject_id for c in first] == ["alice", "bob"]
    bob = next(c.seq for c in first if c.subject_id == "bob")
    events = cast(Table, ConsentEvent.__table__)
    tamper(data, update(events).where(events.c.seq == bob).values(purpose="sdeen"))
    tamper(data, update(events).where(events.c.seq == bob).values(purpose="needs", record_id="x"))
    for _ in range(2):
        caplog.clear()
        with (
            caplog.at_level(logging.WARNING, logger="candor.storage"),
            data.stores.brand(BRAND) as session,
        ):
            assert [c.subject_id for c in ledger.in_force(session, ("needs",))] == ["alice"]
        assert [r for r in caplog.records if f"#{bob} failed its check" in r.getMessage()]
    ledger._verdicts.clear()
    with data.stores.brand(BRAND) as session:  # a first read says the same
        assert [c.subject_id for c in ledger.in_force(session, ("needs",))] == ["alice"]
        ledger.redact_subject(session, subject_id="alice")
        session.commit()
    assert not any(
        "alice" in repr(key) for verdicts in ledger._verdicts.values() for key in verdicts
    )


def test_cli_verify_exit_codes(
    data: Seeded, store_backend: StoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.brands import publish_flow_file
    from bot.cli.app import app
    from tests.factories import EXAMPLES

    for name, value in store_backend.env().items():
        monkeypatch.setenv(name, value)
    publish_flow_file(data.stores, EXAMPLES / "trailhead-outfitters.yaml")
    ok = CliRunner().invoke(app, ["consents", "verify", BRAND])
    assert ok.exit_code == 0
    assert "chain intact" in ok.stdout
    tamper(data, delete(ConsentEvent).where(ConsentEvent.seq == 1))
    broken = CliRunner().invoke(app, ["consents", "verify", BRAND])
    assert broken.exit_code == 1
    unknown = CliRunner().invoke(app, ["consents", "verify", "nobody"])
    assert unknown.exit_code == 1


def test_in_force_narrows_by_subject_and_by_time(data: Seeded) -> None:
    """The narrowing the retention purge needs (consents given before a cutoff) keeps the
    check: a back-dated consent is not 'due', it is not in force at all."""
    now = datetime.now(UTC)
    with data.stores.brand(BRAND) as session:
        assert [c.subject_id for c in ledger.in_force(session, ("needs",), subjects=["bob"])] == [
            "bob"
        ]
        later = ledger.in_force(session, ("needs",), given_before=now + timedelta(days=1))
        assert [c.subject_id for c in later] == ["alice", "bob"]
        assert ledger.in_force(session, ("needs",), given_before=now - timedelta(days=1)) == []
        bob = next(c.seq for c in later if c.subject_id == "bob")
    events = cast(Table, ConsentEvent.__table__)
    tamper(
        data,
        update(events).where(events.c.seq == bob).values(created_at=now - timedelta(days=400)),
    )
    with data.stores.brand(BRAND) as session:
        due = ledger.in_force(session, ("needs",), given_before=now - timedelta(days=365))
        assert due == []
        assert ledger.current(session, subject_id="bob", purpose="needs") is None


def test_the_migration_makes_an_existing_ledger_verify(store_backend: StoreBackend) -> None:
    """A ledger from before brand_0003: ids ahead of seqs (a PostgreSQL sequence skips a
    number whenever a transaction rolls back), answers and tags referencing those ids, and a
    subject erased the old way (rows cleared and flagged, no erasure event). After the
    upgrade the ledger verifies and every reference still points at the same event."""
    from alembic import command
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from storage import migrations
    from storage.backends import open_backend

    flow = load_flow_file(EXAMPLES / "trailhead-outfitters.yaml")
    ctx = {
        p: consent_context(flow, p, step_id=f"consent_{p}", channel="api", method="button")
        for p in flow.purposes
    }
    when = datetime(2026, 5, 1, 12, tzinfo=UTC)
    backend = open_backend(store_backend.data_dir, store_backend.database_url, store_backend.prefix)
    backend.check()
    backend.provision_brand(BRAND)
    engine = backend.brand_engine(BRAND)
    try:
        with engine.begin() as conn:
            command.upgrade(migrations.config("brand", conn), "brand_0002")
            old = MetaData()
            old.reflect(conn)
            events, answers, tags = (
                old.tables[t] for t in ("consent_events", "answers", "subject_tags")
            )
            conn.execute(
                insert(old.tables["subjects"]),
                [
                    {"subject_id": s, "channel": "api", "created_at": when}
                    | {"objects_to_profiling": False}
                    for s in ("alice", "bob")
                ],
            )
            rows, previous = [], ledger.GENESIS
            for seq, (subject, event, purpose) in enumerate(
                [
                    ("alice", "requested", "needs"),
                    ("alice", "given", "needs"),
                    ("bob", "requested", "needs"),
                    ("bob", "given", "needs"),
                    ("bob", "given", "frustrations"),
                    ("alice", "requested", "frustrations"),
                ],
                start=1,
            ):
                row = {"redacted": False} | ledger.chained_event(
                    seq, previous, subject, event, ctx[purpose], when + timedelta(minutes=seq)
                )
                row["id"] = seq if seq < 3 else seq + 7
                rows.append(row)
                previous = row["hash"]
            conn.execute(insert(events), rows)
            conn.execute(insert(old.tables["ledger_head"]).values(id=1, seq=6, hash=previous))
            answer = {
                "subject_id": "bob",
                "conversation_id": "c1",
                "flow_brand": BRAND,
                "flow_id": flow.id,
                "flow_version": flow.version,
                "ask_type": "free_text",
                "verbatim_enc": "sealed",
                "value_enc": "sealed",
                "created_at": when,
                "updated_at": when,
            }
            conn.execute(
                insert(answers),
                [
                    answer | {"step_id": "need", "purpose": "needs", "consent_event_id": 11},
                    answer
                    | {"step_id": "frustration", "purpose": "frustrations"}
                    | {"consent_event_id": 12},
                ],
            )
            conn.execute(
                insert(tags).values(
                    subject_id="bob",
                    tag="runner",
                    purpose="needs",
                    flow_id=flow.id,
                    flow_version=flow.version,
                    consent_event_id=11,
                    created_at=when,
                )
            )
            conn.execute(
                update(events)
                .where(events.c.subject_id == "alice")
                .values(
                    subject_id=None,
                    record_id=None,
                    event=None,
                    purpose=None,
                    payload_json=None,
                    created_at=None,
                    redacted=True,
                )
            )
            conn.execute(
                delete(old.tables["subjects"]).where(old.tables["subjects"].c.subject_id == "alice")
            )
    finally:
        engine.dispose()
        backend.dispose()
    record = {r["id"]: r["record_id"] for r in rows}

    stores = store_backend.stores()  # opening the store upgrades it to the latest revision
    with stores.brand(BRAND) as session:
        assert ledger.verify(session) == (7, [])
        after = {e.seq: e for e in session.scalars(select(ConsentEvent))}
        referenced = session.execute(
            select(Answer.step_id, Answer.consent_event_id).order_by(Answer.step_id)
        ).all()
        tagged = session.scalar(select(SubjectTag.consent_event_id))
    assert all(e.id == e.seq for e in after.values())
    with stores.brand_engine(BRAND).connect() as conn:  # the foreign keys that moved are back
        diffs = compare_metadata(MigrationContext.configure(conn), migrations.metadata("brand"))
    assert [d for d in diffs if d[0] in ("add_fk", "remove_fk")] == []
    assert [(step, after[ref].record_id) for step, ref in referenced] == [
        ("frustration", record[12]),
        ("need", record[11]),
    ]
    assert tagged is not None
    assert after[tagged].record_id == record[11]
    assert after[7].event == "erased"
    assert ledger.payload(after[7])["redacted_seqs"] == [1, 2, 6]


def test_concurrent_appends_queue_and_none_is_lost(
    data: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turns of different customers append at the same time, each in its own transaction
    with nothing written before. Each must read the head only once the one before it has
    committed: on SQLite, which has no `FOR UPDATE`, two used to read the same head and the
    second insert failed (the seq is unique), losing that customer's turn. Signing is slowed
    here so that every append overlaps another."""
    signed = ledger.chained_event

    def slow(*args: Any, **kwargs: Any) -> dict[str, Any]:
        time.sleep(0.005)
        return signed(*args, **kwargs)

    monkeypatch.setattr(ledger, "chained_event", slow)
    ctx = consent_context(data.flow, "needs", step_id="s", channel="api", method="api")
    with data.stores.brand(BRAND) as session:
        for i in range(4):
            records.ensure_subject(session, subject_id=f"c{i}", channel="api")
        session.commit()
    failures: list[BaseException] = []

    def customer(name: str) -> None:
        for _ in range(10):
            try:
                with data.stores.brand(BRAND) as session:
                    ledger.append(session, subject_id=name, event="requested", ctx=ctx)
                    session.commit()
            except BaseException as exc:  # reported below
                failures.append(exc)

    workers = [threading.Thread(target=customer, args=(f"c{i}",)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [type(f).__name__ for f in failures] == []
    with data.stores.brand(BRAND) as session:
        assert ledger.verify(session) == (10 + 40, [])
