"""The hash-chained consent ledger detects any edited, removed or reordered event."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from storage import ledger
from storage.schema import ConsentEvent
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
    assert checked == 10 and found == []


def test_events_carry_the_consent_record_fields(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        row = session.scalars(select(ConsentEvent).order_by(ConsentEvent.seq)).first()
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
    assert body["consent_type"] == "explicit" and body["third_party_disclosure"] == "none"
    notice = data.flow.purposes["needs"].notice
    assert body["notice_sha256"] == ledger.digest(notice)
    receipt = ledger.receipt(row)
    assert receipt["version"] == "KI-CR-v1.1.0" and receipt["piiPrincipalId"] == "alice"


def test_edited_payload_is_detected(data: Seeded) -> None:
    with data.stores.brand(BRAND) as session:
        row = session.scalar(select(ConsentEvent).where(ConsentEvent.seq == 2))
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
        assert ledger.redact_subject(session, subject_id="alice") == 5
        session.commit()
        checked, found = ledger.verify(session)
        left = session.scalars(
            select(ConsentEvent.payload_json).where(ConsentEvent.redacted.is_(True))
        ).all()
    assert checked == 10 and found == [] and left == [None] * 5


def test_cli_verify_exit_codes(
    data: Seeded, store_backend: StoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.brands import publish_flow_file
    from bot.cli import app
    from tests.factories import EXAMPLES

    for name, value in store_backend.env().items():
        monkeypatch.setenv(name, value)
    publish_flow_file(data.stores, EXAMPLES / "trailhead-outfitters.yaml")
    ok = CliRunner().invoke(app, ["consents", "verify", BRAND])
    assert ok.exit_code == 0 and "chain intact" in ok.stdout
    tamper(data, delete(ConsentEvent).where(ConsentEvent.seq == 1))
    broken = CliRunner().invoke(app, ["consents", "verify", BRAND])
    assert broken.exit_code == 1
    unknown = CliRunner().invoke(app, ["consents", "verify", "nobody"])
    assert unknown.exit_code == 1
