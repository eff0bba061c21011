"""Tampering with any column of any ledger row is reported, by every way an operator can look.

A meta-test: for each column of `consent_events` and `ledger_head` (read from the models, so a
column added later needs a mutation here before this passes), it edits that one column of one
row of each kind (a live event, an erased one, the erasure event, the head), and asserts that
`ledger.verify`, `candor consents verify` and the admin route all report it. Deleting,
reordering and inserting rows likewise. Then the forgery outside testing found (a refused
event turned into `given` and flagged `redacted`) must give no consent and no segment.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, delete, insert, select, update
from typer.testing import CliRunner

from actions.consent_context import consent_context
from actions.runtime import Runtime
from bot.brands import create_brand
from bot.cli.app import app as cli_app
from bot.gateway.app import create_app
from consent_flows.loader import load_flow_file
from storage import audience_facts, ledger, rights
from storage.schema import ConsentEvent, LedgerHead
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, Seeded
from tests.pg import StoreBackend
from tests.stack import make_settings

EVENTS = cast(Table, ConsentEvent.__table__)
HEAD = cast(Table, LedgerHead.__table__)
FLOW = EXAMPLES / "trailhead-outfitters.yaml"


@dataclass
class Ledger:
    """A brand ledger with given, refused, withdrawn and erased subjects, and three ways to
    check it: the function, the command and the admin route."""

    stores: Stores
    client: TestClient
    headers: dict[str, str]
    seeded: Seeded

    def reporters(self) -> dict[str, bool]:
        """Which of the three checks report a problem right now."""
        with self.stores.brand(BRAND) as session:
            function = bool(ledger.verify(session)[1])
        result = CliRunner().invoke(cli_app, ["consents", "verify", BRAND])
        command = result.exit_code == 1 and "NOT intact" in result.output
        body = self.client.get(f"/api/v1/brands/{BRAND}/consents", headers=self.headers)
        route = body.status_code == 200 and body.json()["chain"]["intact"] is False
        return {"ledger.verify": function, "candor consents verify": command, "admin route": route}

    def execute(self, *statements: Any) -> None:
        with self.stores.brand(BRAND) as session:
            for statement in statements:
                session.execute(statement)
            session.commit()

    def row(self, *where: Any) -> dict[str, Any]:
        with self.stores.brand(BRAND) as session:
            return dict(session.execute(select(EVENTS).where(*where)).one()._mapping)

    def seq_of(self, *where: Any) -> int:
        with self.stores.brand(BRAND) as session:
            seq = session.scalars(select(EVENTS.c.seq).where(*where).order_by(EVENTS.c.seq)).first()
            assert seq is not None
            return seq

    def head(self) -> dict[str, Any]:
        with self.stores.brand(BRAND) as session:
            return dict(session.execute(select(HEAD)).one()._mapping)


def build(seeded: Seeded) -> None:
    """gina gives and answers, rolf refuses, wendy gives then withdraws, erin is erased; an
    event follows the erasure, so the erasure event is not the last one."""
    seeded.consent("gina", "needs", "requested")
    seeded.consent("gina", "needs")
    seeded.answer("gina", "need", "a rain jacket")
    seeded.consent("rolf", "needs", "requested")
    seeded.consent("rolf", "needs", "refused")
    seeded.consent("wendy", "needs")
    seeded.consent("wendy", "needs", "withdrawn")
    seeded.consent("erin", "needs", "requested")
    seeded.consent("erin", "needs")
    seeded.answer("erin", "need", "trail shoes")
    with seeded.stores.brand(BRAND) as session:
        rights.erase_subject(session, seeded.stores.keyring(BRAND), subject_id="erin")
        session.commit()
    seeded.consent("gina", "frustrations", "requested")


@pytest.fixture
def book(
    tmp_path: Path, store_backend: StoreBackend, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Ledger]:
    stores = store_backend.stores()
    seeded = Seeded(stores, load_flow_file(FLOW))
    build(seeded)
    _, key = create_brand(stores, FLOW)
    # The command opens the stores from the environment; here it gets these same stores (one
    # engine for the whole test, not one per invocation). `test_ledger.py` runs it for real.
    import bot.cli.privacy

    runtime = Runtime(stores=stores, control_threshold=0.5)
    monkeypatch.setattr(bot.cli.privacy, "_runtime", lambda: runtime)
    application = create_app(make_settings(tmp_path, purge_interval_s=0), stores=stores)
    with TestClient(application, raise_server_exceptions=False) as client:
        book = Ledger(stores, client, {"authorization": f"Bearer {key}"}, seeded)
        assert not any(book.reporters().values()), "the untouched ledger must verify"
        yield book


# How to change one value of each column, whatever it holds (None for an erased row's fields).
# A column of the models without an entry here fails the meta-test: add one.
def _other_subject(old: str | None) -> str:
    return "rolf" if old == "gina" else "gina"  # both exist: subject_id is a foreign key


def _edited_payload(old: str | None) -> str:
    body = json.loads(old) if old else {}
    body["event"] = "refused" if body.get("event") == "given" else "given"
    return ledger.canonical(body)


def _flipped(old: str) -> str:
    return old[:-1] + ("0" if old[-1] != "0" else "1")


def _earlier(old: datetime | None) -> datetime:
    return (old or datetime(2026, 6, 1)) - timedelta(days=400)


EVENT_EDITS: dict[str, Callable[[Any], Any]] = {
    "id": lambda old: old + 1000,
    "seq": lambda old: old + 1000,
    "record_id": lambda old: str(uuid.uuid4()),
    "subject_id": _other_subject,
    "event": lambda old: "refused" if old == "given" else "given",
    "purpose": lambda old: "frustrations" if old == "needs" else "needs",
    "payload_json": _edited_payload,
    "created_at": _earlier,
    "prev_hash": _flipped,
    "payload_digest": _flipped,
    "hash": _flipped,
    "redacted": lambda old: not old,
}
HEAD_EDITS: dict[str, Callable[[Any], Any]] = {
    "id": lambda old: old + 1,
    "seq": lambda old: old - 1,
    "hash": _flipped,
}


def test_every_ledger_column_has_an_edit() -> None:
    assert set(EVENT_EDITS) == {c.name for c in EVENTS.columns}
    assert set(HEAD_EDITS) == {c.name for c in HEAD.columns}


def _kinds(book: Ledger) -> dict[str, int]:
    """One row of each kind, by seq. rolf's refusal is referenced by no answer, so its id can
    change without breaking a foreign key."""
    return {
        "live": book.seq_of(EVENTS.c.subject_id == "rolf", EVENTS.c.event == "refused"),
        "erased": book.seq_of(EVENTS.c.redacted.is_(True)),
        "erasure event": book.seq_of(EVENTS.c.event == "erased"),
    }


def test_editing_any_column_of_any_row_is_reported(book: Ledger) -> None:
    missed: list[str] = []
    kinds = _kinds(book)
    assert all(kinds.values()), kinds
    for kind, seq in kinds.items():
        for column in EVENTS.columns:
            # Find the row by seq, or by id when seq is the column being edited.
            key = EVENTS.c.id if column.name == "seq" else EVENTS.c.seq
            original = book.row(EVENTS.c.seq == seq)
            new = EVENT_EDITS[column.name](original[column.name])
            assert new != original[column.name]
            where = key == original[key.name]
            book.execute(update(EVENTS).where(where).values({column.name: new}))
            seen = book.reporters()
            missed += [f"{kind} row, {column.name}: {who}" for who, ok in seen.items() if not ok]
            book.execute(update(EVENTS).where(where).values({column.name: original[column.name]}))
    for column in HEAD.columns:
        original = book.head()
        new = HEAD_EDITS[column.name](original[column.name])
        book.execute(update(HEAD).where(HEAD.c.id == original["id"]).values({column.name: new}))
        seen = book.reporters()
        missed += [f"head, {column.name}: {who}" for who, ok in seen.items() if not ok]
        found = new if column.name == "id" else original["id"]
        book.execute(
            update(HEAD).where(HEAD.c.id == found).values({column.name: original[column.name]})
        )
    assert not any(book.reporters().values()), "every edit was undone: the ledger verifies"
    assert missed == [], "edits that went unreported:\n" + "\n".join(missed)


def test_deleting_any_kind_of_row_is_reported(book: Ledger) -> None:
    missed: list[str] = []
    kinds = _kinds(book) | {"last": book.head()["seq"], "first": 1}
    for kind, seq in kinds.items():
        saved = book.row(EVENTS.c.seq == seq)
        book.execute(delete(EVENTS).where(EVENTS.c.seq == seq))
        missed += [f"{kind} row: {who}" for who, ok in book.reporters().items() if not ok]
        book.execute(insert(EVENTS).values(saved))
    saved_head = book.head()
    book.execute(delete(HEAD))
    missed += [f"head: {who}" for who, ok in book.reporters().items() if not ok]
    book.execute(insert(HEAD).values(saved_head))
    assert not any(book.reporters().values())
    assert missed == [], "deletions that went unreported:\n" + "\n".join(missed)


def _swap(book: Ledger, a: int, b: int, *, ids: bool) -> None:
    columns = ("seq", "id") if ids else ("seq",)
    parked = {c: -1 for c in columns}
    book.execute(
        update(EVENTS).where(EVENTS.c.seq == a).values(parked),
        update(EVENTS).where(EVENTS.c.seq == b).values({c: a for c in columns}),
        update(EVENTS).where(EVENTS.c.seq == -1).values({c: b for c in columns}),
    )


def test_reordering_rows_is_reported(book: Ledger) -> None:
    """Swap rolf's request and refusal (no answer references either, so their ids can move
    too): by seq alone, and by seq and id together."""
    refusal = _kinds(book)["live"]
    for ids in (False, True):
        _swap(book, refusal - 1, refusal, ids=ids)
        seen = book.reporters()
        _swap(book, refusal - 1, refusal, ids=ids)
        assert all(seen.values()), (ids, seen)
    assert not any(book.reporters().values())


def test_inserting_rows_is_reported(book: Ledger) -> None:
    """A forged 'given' for rolf, chained after the last event but behind the head's back;
    the same with a gap in the sequence; a replay of an existing event under a new seq."""
    head = book.head()
    ctx = consent_context(
        book.seeded.flow, "needs", step_id="consent_needs", channel="api", method="button"
    )
    forged = ledger.chained_event(
        head["seq"] + 1, head["hash"], "rolf", "given", ctx, datetime(2026, 12, 1)
    )
    gap = ledger.chained_event(
        head["seq"] + 2, head["hash"], "rolf", "given", ctx, datetime(2026, 12, 1)
    )
    replay = book.row(EVENTS.c.seq == _kinds(book)["live"]) | {
        "id": head["seq"] + 1,
        "seq": head["seq"] + 1,
        "record_id": str(uuid.uuid4()),
    }
    for name, row in (("appended", forged), ("gap", gap), ("replay", replay)):
        row = {"id": row["seq"], "redacted": False} | row
        book.execute(insert(EVENTS).values(row))
        seen = book.reporters()
        book.execute(delete(EVENTS).where(EVENTS.c.seq == row["seq"]))
        assert all(seen.values()), (name, seen)
    assert not any(book.reporters().values())


def test_garbled_content_is_reported_and_the_route_still_answers(book: Ledger) -> None:
    seq = _kinds(book)["live"]
    original = book.row(EVENTS.c.seq == seq)["payload_json"]
    book.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(payload_json="{not json"))
    seen = book.reporters()
    book.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(payload_json=original))
    assert all(seen.values()), seen


def _in_force(book: Ledger, subject: str) -> tuple[bool, bool]:
    with book.stores.brand(BRAND) as session:
        return (
            ledger.current(session, subject_id=subject, purpose="needs") is not None,
            subject in audience_facts.eligible(session, ("needs",)),
        )


def test_the_forged_consent_gives_no_consent_and_no_segment(
    book: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    """What outside testing did: rolf's refusal turned into 'given' and flagged as erased."""
    assert _in_force(book, "gina") == (True, True)
    assert _in_force(book, "rolf") == (False, False)
    refusal = _kinds(book)["live"]
    book.execute(update(EVENTS).where(EVENTS.c.seq == refusal).values(event="given", redacted=True))
    assert all(book.reporters().values())
    with caplog.at_level(logging.WARNING, logger="candor.storage"):
        assert _in_force(book, "rolf") == (False, False)
    warnings = [r.getMessage() for r in caplog.records if r.name == "candor.storage"]
    # Both readers said why (current, then the segment check), naming neither brand nor subject.
    assert len(warnings) == 2
    assert all(f"#{refusal} failed its check" in w for w in warnings)
    assert not any(word in w for w in warnings for word in ("rolf", BRAND, "needs"))
    assert _in_force(book, "gina") == (True, True), "one forged row does not stop the others"


def test_a_forged_event_column_alone_gives_no_consent(book: Ledger) -> None:
    for subject, event in (("rolf", "refused"), ("wendy", "withdrawn")):
        seq = book.seq_of(EVENTS.c.subject_id == subject, EVENTS.c.event == event)
        book.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(event="given"))
        assert _in_force(book, subject) == (False, False), subject
    assert all(book.reporters().values())


def test_a_back_dated_consent_is_reported_and_not_trusted(book: Ledger) -> None:
    given = book.seq_of(EVENTS.c.subject_id == "gina", EVENTS.c.event == "given")
    original = book.row(EVENTS.c.seq == given)["created_at"]
    book.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == given)
        .values(created_at=original - timedelta(days=400))
    )
    assert all(book.reporters().values())
    assert _in_force(book, "gina") == (False, False)


def test_a_consent_whose_predecessor_was_edited_is_not_trusted(book: Ledger) -> None:
    """`current` checks the chain link to the event before the one it returns."""
    given = book.seq_of(EVENTS.c.subject_id == "gina", EVENTS.c.event == "given")
    book.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == given - 1)
        .values(hash=_flipped(book.row(EVENTS.c.seq == given - 1)["hash"]))
    )
    assert _in_force(book, "gina") == (False, False)


def test_unflagging_an_erased_row_or_flagging_a_live_one_is_reported(book: Ledger) -> None:
    """Nulling a live row's content and flagging it as erased is not an erasure: only rows an
    erasure event lists are."""
    seq = _kinds(book)["live"]
    book.execute(
        update(EVENTS)
        .where(EVENTS.c.seq == seq)
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
    assert all(book.reporters().values())
