"""The ledger page's cached check says what `ledger.verify` says, walking only what changed.

Blocks are made four events long here, so a ledger of a few dozen events has many of them and
every boundary case (an edit at a block's first or last event, an erasure across blocks, an
event appended behind the head's back) happens in a small store. Each tamper comes after a
check that cached the ledger as intact: that cache must not hide it.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Table, delete, insert, select, update

from actions.consent_context import consent_context
from bot.brands import create_brand
from bot.gateway.app import create_app
from consent_flows.loader import load_flow_file
from storage import ledger, ledger_check, rights
from storage.schema import ConsentEvent, LedgerHead, utcnow
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, Seeded
from tests.pg import StoreBackend
from tests.stack import make_settings

EVENTS = cast(Table, ConsentEvent.__table__)
HEAD = cast(Table, LedgerHead.__table__)
FLOW = EXAMPLES / "trailhead-outfitters.yaml"
SUBJECTS = [f"s{n}" for n in range(8)]


class Book:
    """A brand ledger, the cached check and the full one, and a count of events walked."""

    def __init__(self, seeded: Seeded) -> None:
        self.seeded, self.stores = seeded, seeded.stores
        self.walked = 0

    def both(self) -> tuple[tuple[int, list[ledger.ChainProblem]], tuple[int, Any]]:
        """(cached check, full verify), the cached one first: it must not lean on the other."""
        self.walked = 0
        cached = ledger_check.chain_status(self.stores, BRAND)
        walked = self.walked
        with self.stores.brand(BRAND) as session:
            full = ledger.verify(session)  # walks too: not counted
        self.walked = walked
        return cached, full

    def intact(self) -> int:
        """Check twice: the cached state is warm afterwards; returns the events walked."""
        (count, problems), (full_count, full_problems) = self.both()
        assert (problems, full_problems) == ([], [])
        assert count == full_count
        return self.walked

    def broken(self) -> list[ledger.ChainProblem]:
        (_, problems), (_, full_problems) = self.both()
        assert problems, "the cached check missed what verify reports: " + repr(full_problems)
        assert problems == full_problems
        return problems

    def execute(self, *statements: Any) -> None:
        with self.stores.brand(BRAND) as session:
            for statement in statements:
                session.execute(statement)
            session.commit()

    def row(self, seq: int) -> dict[str, Any]:
        with self.stores.brand(BRAND) as session:
            return dict(session.execute(select(EVENTS).where(EVENTS.c.seq == seq)).one()._mapping)

    def head(self) -> dict[str, Any]:
        with self.stores.brand(BRAND) as session:
            return dict(session.execute(select(HEAD)).one()._mapping)

    def erase(self, subject: str) -> None:
        with self.stores.brand(BRAND) as session:
            rights.erase_subject(session, self.stores.keyring(BRAND), subject_id=subject)
            session.commit()


@pytest.fixture
def book(store_backend: StoreBackend, monkeypatch: pytest.MonkeyPatch) -> Book:
    monkeypatch.setattr(ledger_check, "BLOCK_BITS", 2)  # blocks of 4 events
    seeded = Seeded(store_backend.stores(), load_flow_file(FLOW))
    for subject in SUBJECTS:
        seeded.consent(subject, "needs", "requested")
        seeded.consent(subject, "needs")
        seeded.consent(subject, "frustrations", "requested")
    book = Book(seeded)
    step = ledger.ChainWalk.step

    def counted(walk: ledger.ChainWalk, row: Any) -> None:
        book.walked += 1
        step(walk, row)

    monkeypatch.setattr(ledger.ChainWalk, "step", counted)
    return book


def test_a_warm_check_walks_only_what_was_appended(book: Book) -> None:
    assert book.intact() == 24, "the first check walks the whole chain"
    assert book.intact() == 0, "nothing changed: nothing is walked"
    book.seeded.consent("s1", "frustrations")  # seq 25, in the head's block (24-27)
    assert book.intact() == 2, "the head's block again, with the new event"
    book.seeded.consent("s2", "frustrations")
    assert book.intact() == 3


def test_an_erasure_is_walked_where_it_cleared_rows(book: Book) -> None:
    book.intact()
    book.erase("s0")  # seqs 1-3 cleared (block 0: 1-3); the erasure event is 25 (24-27)
    assert book.intact() == 3 + 2
    book.erase("s6")  # seqs 19-21 cleared (blocks 16-19 and 20-23); the erasure event is 26
    assert book.intact() == 4 + 4 + 3


def _flip(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


EDITS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "event": lambda r: {"event": "given" if r["event"] != "given" else "refused"},
    "payload_json": lambda r: {"payload_json": r["payload_json"].replace('"api:', '"web:')},
    "hash": lambda r: {"hash": _flip(r["hash"])},
    "prev_hash": lambda r: {"prev_hash": _flip(r["prev_hash"])},
    "payload_digest": lambda r: {"payload_digest": _flip(r["payload_digest"])},
    "created_at": lambda r: {"created_at": r["created_at"].replace(year=2001)},
    "record_id": lambda r: {"record_id": str(uuid.uuid4())},
    "id": lambda r: {"id": r["id"] + 1000},
    "redacted": lambda r: {"redacted": not r["redacted"]},
}


@pytest.mark.parametrize("seq", [1, 4, 5, 8, 11, 12])  # a block's first and last events
def test_editing_an_event_before_the_cached_head_is_reported(book: Book, seq: int) -> None:
    """Every kind of column, at each end of a block (no answer references these events, so
    even `id` can move)."""
    for column, edit in EDITS.items():
        book.intact()
        original = book.row(seq)
        book.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(edit(original)))
        book.broken()
        key = EVENTS.c.id == original["id"] + 1000 if column == "id" else EVENTS.c.seq == seq
        book.execute(update(EVENTS).where(key).values(original))
    assert book.intact() == 24, "after a doubt the next check starts from scratch"


def test_a_wrongly_erased_row_is_reported(book: Book) -> None:
    """Cleared and flagged by hand, with no erasure event listing it: not an erasure."""
    book.intact()
    cleared = dict.fromkeys(ledger.PERSONAL) | {"redacted": True}
    book.execute(update(EVENTS).where(EVENTS.c.seq == 6).values(cleared))
    book.broken()


def test_an_erasure_undone_by_hand_is_reported(book: Book) -> None:
    book.erase("s0")
    book.intact()
    book.execute(update(EVENTS).where(EVENTS.c.seq == 2).values(redacted=False))
    book.broken()


def test_removing_moving_or_adding_events_after_a_warm_check_is_reported(book: Book) -> None:
    for seq in (1, 7, 8, 24):  # removed: first, middle, a block's last, the head's
        book.intact()
        saved = book.row(seq)
        book.execute(delete(EVENTS).where(EVENTS.c.seq == seq))
        book.broken()
        book.execute(insert(EVENTS).values(saved))
    for a, b in ((6, 7), (8, 9)):  # swapped within a block and across two
        book.intact()
        book.execute(
            update(EVENTS).where(EVENTS.c.seq == a).values(seq=-1),
            update(EVENTS).where(EVENTS.c.seq == b).values(seq=a),
            update(EVENTS).where(EVENTS.c.seq == -1).values(seq=b),
        )
        book.broken()
        book.execute(
            update(EVENTS).where(EVENTS.c.seq == a).values(seq=-1),
            update(EVENTS).where(EVENTS.c.seq == b).values(seq=a),
            update(EVENTS).where(EVENTS.c.seq == -1).values(seq=b),
        )
    book.intact()
    head = book.head()
    ctx = consent_context(
        book.seeded.flow, "needs", step_id="consent_needs", channel="api", method="button"
    )
    forged = ledger.chained_event(head["seq"] + 1, head["hash"], "s3", "given", ctx, utcnow())
    book.execute(insert(EVENTS).values(forged))  # behind the head's back
    book.broken()
    book.execute(delete(EVENTS).where(EVENTS.c.seq == head["seq"] + 1))
    assert book.intact() == 24


def test_editing_the_head_after_a_warm_check_is_reported(book: Book) -> None:
    for change in ({"seq": 23}, {"hash": _flip(book.head()["hash"])}, {"id": 2}):
        book.intact()
        original = book.head()
        book.execute(update(HEAD).values(change))
        book.broken()
        book.execute(update(HEAD).values(original))
    book.intact()
    saved = book.head()
    book.execute(delete(HEAD))
    book.broken()
    book.execute(insert(HEAD).values(saved))
    book.intact()


def test_the_cached_check_agrees_with_verify_through_random_histories(book: Book) -> None:
    """Appends, erasures and tampers in a random order: after each, the cached check (warm
    from the step before whenever the ledger was intact) says exactly what verify says."""
    rng = random.Random(16)
    alive = list(SUBJECTS)
    for _ in range(40):
        action = rng.choice(["append", "append", "erase", "tamper"])
        if action == "append":
            book.seeded.consent(rng.choice(SUBJECTS), rng.choice(["needs", "frustrations"]))
            book.intact()
        elif action == "erase" and alive:
            book.erase(alive.pop(rng.randrange(len(alive))))
            book.intact()
        else:
            seq = rng.randint(1, book.head()["seq"])
            original = book.row(seq)
            column = rng.choice(["hash", "prev_hash", "payload_digest", "redacted", "record_id"])
            book.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(EDITS[column](original)))
            book.broken()
            book.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(original))
            book.intact()


def test_the_ledger_route_reports_an_edit_behind_its_cached_head(
    book: Book, tmp_path: Path
) -> None:
    """The admin route pages the ledger, then an event well before the head is edited: the
    next page says the chain is broken, and names the event."""
    _, key = create_brand(book.stores, FLOW)
    app = create_app(make_settings(tmp_path, purge_interval_s=0), stores=book.stores)
    with TestClient(app) as client:
        headers = {"authorization": f"Bearer {key}"}

        def page() -> dict[str, Any]:
            got = client.get(f"/api/v1/brands/{BRAND}/consents?limit=5", headers=headers)
            assert got.status_code == 200
            chain: dict[str, Any] = got.json()["chain"]
            return chain

        assert page() == {"events": 24, "intact": True, "problems": []}
        assert page()["intact"] is True
        book.walked = 0
        assert page()["intact"] is True
        assert book.walked == 0, "a page of an unchanged ledger walks nothing"
        original = book.row(3)
        book.execute(update(EVENTS).where(EVENTS.c.seq == 3).values(event="given"))
        chain = page()
        assert chain["intact"] is False
        assert {p["seq"] for p in chain["problems"]} == {3}
        book.execute(update(EVENTS).where(EVENTS.c.seq == 3).values(original))
        assert page()["intact"] is True
