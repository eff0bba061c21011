"""The rights service (actions/rights_service.py): each right carried out whole on a real store.

The chat, the admin API and the CLI all call it, so what is asserted here holds for the three:
the rows that go, the ledger event and its context, and what the engine's tracker forgets.
SQLite stores and a Rasa tracker table in the data directory; no stand-ins.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, text

from actions import rights_service
from actions.consent_context import consent_context, data_categories
from actions.rights_service import (
    PROFILING_NOTICE,
    NoAnswer,
    NoConsentInForce,
    RightsService,
    UnknownPurpose,
    UnknownSubject,
)
from actions.runtime import Runtime
from bot.brands import create_brand, publish_flow_file
from bot.gateway.app import create_app
from consent_flows import notices
from consent_flows.contract import RightsRequest
from storage import ledger, records
from storage.schema import ConsentEvent, Subject
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, Seeded, seeded
from tests.stack import make_settings

FLOW = EXAMPLES / "trailhead-outfitters.yaml"


@dataclass
class Shop:
    """The demo brand's store with two subjects (tests/factories_store.py), its live flow, the
    runtime that serves it, and a tracker store holding a conversation of each subject."""

    data: Seeded
    runtime: Runtime
    # Words each subject typed in the chat, kept in the tracker until something removes them.
    typed: dict[str, str]

    @property
    def service(self) -> RightsService:
        return self.runtime.rights

    def ledger_of(self, subject: str) -> list[dict[str, Any]]:
        with self.data.stores.brand(BRAND) as session:
            return [ledger.payload(e) for e in records.consents_of(session, subject_id=subject)]

    def ledger_size(self) -> int:
        with self.data.stores.brand(BRAND) as session:
            return len(session.scalars(select(ConsentEvent.seq)).all())

    def tracker_states(self, subject: str) -> list[dict[str, Any]]:
        with self.data.stores.tracker_engine().connect() as conn:
            rows = conn.execute(
                text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"),
                {"s": f"{BRAND}:web:{subject}"},
            ).all()
        events = [json.loads(data) for (data,) in rows]
        return [e["value"] for e in events if e.get("name") == "flow_state"]

    def on_disk(self, *words: str) -> list[str]:
        """Those of `words` whose bytes are in any file of the data directory (databases,
        their `-wal` and `-shm` files, the key store, the tracker)."""
        raw = b"".join(
            p.read_bytes() for p in sorted(self.data.stores.data_dir.rglob("*")) if p.is_file()
        )
        return [w for w in words if w.encode() in raw]


def _conversation(engine: Engine, subject: str, words: str) -> None:
    """Rasa 3.6's events table, and one turn of a subject's survey as the engine saves it: the
    customer's message and the interpreter's state with their answers and tags."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id "
                "VARCHAR(255) NOT NULL, type_name VARCHAR(255) NOT NULL, timestamp FLOAT, "
                "intent_name VARCHAR(255), action_name VARCHAR(255), data TEXT)"
            )
        )
        state = {
            "flow_brand": BRAND,
            "granted": ["needs", "frustrations"],
            "withdrawn": [],
            "answers": {"need": "something", "frustration": words},
            "tags": ["runner"],
        }
        for kind, event in (
            ("user", {"event": "user", "text": words}),
            ("slot", {"event": "slot", "name": "flow_state", "value": state}),
        ):
            conn.execute(
                text("INSERT INTO events (sender_id, type_name, data) VALUES (:s, :t, :d)"),
                {"s": f"{BRAND}:web:{subject}", "t": kind, "d": json.dumps(event)},
            )


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Shop]:
    data = seeded(tmp_path)
    publish_flow_file(data.stores, FLOW)
    typed = {s: f"{s}-typed-{uuid.uuid4().hex[:10]}" for s in ("alice", "bob")}
    for subject, words in typed.items():
        _conversation(data.stores.tracker_engine(), subject, words)
    yield Shop(data, Runtime(stores=data.stores, control_threshold=0.8), typed)
    data.stores.dispose()


# --- Access and receipts ----------------------------------------------------------------------


def test_export_is_the_whole_record_and_refuses_a_stranger(shop: Shop) -> None:
    record = shop.service.export(BRAND, "alice")
    assert {a["verbatim"] for a in record["answers"]} == {"a rain jacket", "queues at the till"}
    assert record["purchases_linked"] is True
    assert len(record["transactions"]) == 1
    assert set(record["purposes"]) == set(shop.data.flow.purposes)
    with pytest.raises(UnknownSubject):
        shop.service.export(BRAND, "nobody")
    # A customer's own link still answers after an erasure: there is nothing to show.
    empty = shop.service.export(BRAND, "nobody", missing_ok=True)
    assert (empty["answers"], empty["consent_history"]) == ([], [])


def test_receipts_are_the_decisions_only_with_their_kantara_documents(shop: Shop) -> None:
    found = shop.service.receipts(BRAND, "bob")
    assert [(r.purpose, r.event) for r in found] == [
        ("needs", "given"),
        ("frustrations", "given"),
    ]  # the 'requested' events are not decisions
    assert all(r.collection_method == "api:button" for r in found)
    assert [r.document["consentReceiptID"] for r in found] == [
        e["record_id"] for e in shop.ledger_of("bob") if e["event"] == "given"
    ]


# --- Erasure ----------------------------------------------------------------------------------


def test_erasure_takes_the_store_the_key_and_the_tracker_and_nothing_of_others(
    shop: Shop,
) -> None:
    erased = shop.service.erase(BRAND, "alice")
    assert (erased.answers, erased.tags, erased.key_shredded) == (2, 1, True)
    assert erased.consent_events == 5
    assert erased.tracker_events == 2
    assert not shop.service.knows(BRAND, "alice")
    assert shop.ledger_of("alice") == []
    with shop.data.stores.brand(BRAND) as session:
        assert ledger.verify(session)[1] == []  # the chain holds without her events' content
    # Checked on disk: her words are in no file; bob's, written the same way, still are.
    assert shop.on_disk(shop.typed["alice"], shop.typed["bob"]) == [shop.typed["bob"]]
    assert shop.service.export(BRAND, "bob")["answers"]


def test_erasing_a_stranger_changes_nothing(shop: Shop) -> None:
    before = shop.ledger_size()
    with pytest.raises(UnknownSubject):
        shop.service.erase(BRAND, "nobody")
    assert shop.ledger_size() == before


def test_the_chat_erasure_leaves_the_tracker_for_after_the_turn(shop: Shop) -> None:
    with shop.data.stores.brand(BRAND) as session:
        erased = rights_service.erase(session, shop.data.stores.keyring(BRAND), subject_id="alice")
        session.commit()
    assert erased.after_turn() == [{"erase_tracker": "subject"}]
    assert shop.on_disk(shop.typed["alice"])  # the engine may still be saving this turn


# --- Withdrawal -------------------------------------------------------------------------------


def test_withdrawal_records_it_erases_the_purpose_and_the_tracker_forgets(shop: Shop) -> None:
    done = shop.service.withdraw(BRAND, "bob", ["frustrations"])
    [withdrawn] = done.withdrawn
    assert (withdrawn.purpose, withdrawn.answers, withdrawn.verbatims) == (
        "frustrations",
        1,
        ("no stock in my size",),
    )
    assert [
        (a["step_id"], a["verbatim"]) for a in shop.service.export(BRAND, "bob")["answers"]
    ] == [("need", "trail shoes")]
    last = shop.ledger_of("bob")[-1]
    notice = notices.shown(shop.data.flow, "frustrations", more=False)
    assert (last["event"], last["purpose"], last["collection_method"]) == (
        "withdrawn",
        "frustrations",
        "api:api",
    )
    assert last["notice_sha256"] == ledger.digest(notice)
    with shop.data.stores.brand(BRAND) as session:
        assert ledger.current(session, subject_id="bob", purpose="frustrations") is None
        assert ledger.current(session, subject_id="bob", purpose="needs") is not None
    # The engine's saved state no longer holds the answer, and the typed text is gone from disk.
    [state] = shop.tracker_states("bob")
    assert "frustration" not in state["answers"]
    assert state["withdrawn"] == ["frustrations"]
    assert shop.on_disk(shop.typed["bob"]) == []
    assert shop.on_disk(shop.typed["alice"]) == [shop.typed["alice"]]


def test_withdrawing_an_unknown_purpose_or_one_not_in_force_changes_nothing(shop: Shop) -> None:
    before = shop.ledger_size()
    with pytest.raises(UnknownPurpose) as unknown:
        shop.service.withdraw(BRAND, "bob", ["frustrations", "astrology"])
    assert unknown.value.known == ("frustrations", "needs", "tailored_content")
    with pytest.raises(NoConsentInForce):
        shop.service.withdraw(BRAND, "bob", ["tailored_content"])  # requested, never given
    with pytest.raises(UnknownSubject):
        shop.service.withdraw(BRAND, "nobody", ["needs"])
    assert shop.ledger_size() == before
    assert len(shop.service.export(BRAND, "bob")["answers"]) == 2
    assert shop.on_disk(shop.typed["bob"])


def test_the_chat_withdrawal_takes_what_is_in_force_and_schedules_the_forgetting(
    shop: Shop,
) -> None:
    with shop.data.stores.brand(BRAND) as session:
        done = rights_service.withdraw(
            session,
            shop.data.stores.keyring(BRAND),
            flow=shop.data.flow,
            subject_id="bob",
            purposes=list(shop.data.flow.purposes),
            channel="telegram",
            method="text",
        )
        session.commit()
    assert [w.purpose for w in done.withdrawn] == ["needs", "frustrations"]
    assert done.after_turn() == [
        {
            "forget_purposes": {
                "purposes": ["needs", "frustrations"],
                "asks": [
                    "activity",
                    "need",
                    "need_running",
                    "priorities",
                    "frustration",
                    "shopping_feeling",
                ],
                "tags": ["runner"],
            }
        }
    ]
    methods = {e["collection_method"] for e in shop.ledger_of("bob") if e["event"] == "withdrawn"}
    assert methods == {"telegram:text"}
    assert shop.on_disk(shop.typed["bob"])  # left for after the engine's turn


# --- Objection to profiling -------------------------------------------------------------------


def _objection(shop: Shop, subject: str) -> dict[str, Any]:
    [event] = [e for e in shop.ledger_of(subject) if e["event"] == "objected"]
    return event


def _assert_describes_profiling(shop: Shop, event: dict[str, Any]) -> None:
    """The objection's own record, not a purpose's borrowed one: profiling reads every
    answer, tag and linked purchase, so it names the notice that says so, every purpose's
    data and sensitivity, and the longest retention."""
    flow = shop.data.flow
    borrowed = consent_context(
        flow, next(iter(flow.purposes)), step_id="objection", channel="api", method="api"
    )
    assert (event["purpose"], event["purpose_category"], event["step_id"]) == (
        "profiling",
        "segmentation and targeting",
        "objection",
    )
    assert event["notice_sha256"] == ledger.digest(PROFILING_NOTICE)
    assert event["notice_sha256"] != ledger.digest(borrowed.notice)
    assert event["notice_version"] == f"{flow.id}@v{flow.version}/profiling"
    every = {c for p in flow.purposes for c in data_categories(flow, p)}
    assert set(event["data_categories"]) == every | {"purchases"}
    assert event["sensitive"] is True  # frustrations are sensitive, and profiling reads them
    assert event["retention_days"] == max(p.retention_days for p in flow.purposes.values())


def test_an_objection_is_recorded_once_with_a_context_of_its_own(shop: Shop) -> None:
    assert shop.service.object_to_profiling(BRAND, "bob").recorded is True
    assert shop.service.object_to_profiling(BRAND, "bob").recorded is False
    event = _objection(shop, "bob")  # one event, however often they object
    _assert_describes_profiling(shop, event)
    assert event["collection_method"] == "api:api"
    assert shop.service.export(BRAND, "bob")["objects_to_profiling"] is True
    with pytest.raises(UnknownSubject):
        shop.service.object_to_profiling(BRAND, "nobody")


def test_an_objection_through_the_admin_api_records_profilings_own_context(
    shop: Shop, tmp_path: Path
) -> None:
    """The route used to take the flow's first purpose's context and overwrite two fields:
    the ledger then said the customer objected under the 'needs' notice, not sensitive."""
    _, key = create_brand(shop.data.stores, FLOW)
    app = create_app(make_settings(tmp_path, purge_interval_s=0), stores=shop.data.stores)
    headers = {"authorization": f"Bearer {key}"}
    with TestClient(app) as client:
        url = f"/api/v1/brands/{BRAND}/subjects/alice/objection"
        assert client.post(url, headers=headers).json() == {"objects_to_profiling": True}
        events = client.get(
            f"/api/v1/brands/{BRAND}/consents?subject=alice", headers=headers
        ).json()
    assert events["chain"]["intact"] is True
    [event] = [e for e in events["events"] if e["event"] == "objected"]
    _assert_describes_profiling(shop, event)


def test_an_objection_in_the_chat_records_profilings_own_context(shop: Shop) -> None:
    """The chat did the same borrowing as the route; the runtime carries the request out."""
    shop.runtime.apply(
        brand=BRAND,
        channel="slack",
        subject_id="alice",
        conversation_id=f"{BRAND}:slack:alice",
        effects=[RightsRequest(right="object", flow_version=shop.data.flow.version)],
    )
    event = _objection(shop, "alice")
    _assert_describes_profiling(shop, event)
    assert event["collection_method"] == "slack:text"
    with shop.data.stores.brand(BRAND) as session:
        alice = session.get(Subject, "alice")
        assert alice is not None
        assert alice.objects_to_profiling is True


# --- Rectification ----------------------------------------------------------------------------


def test_rectification_changes_the_latest_answer_and_says_what_it_was(shop: Shop) -> None:
    changed = shop.service.rectify(BRAND, "bob", step_id="need", verbatim="road shoes")
    assert (changed.step_id, changed.old, changed.new) == ("need", "trail shoes", "road shoes")
    [answer] = [a for a in shop.service.export(BRAND, "bob")["answers"] if a["step_id"] == "need"]
    assert (answer["verbatim"], answer["value"], answer["rectifications"]) == (
        "road shoes",
        "road shoes",
        1,
    )


def test_rectifying_an_answer_never_given_changes_nothing(shop: Shop) -> None:
    with pytest.raises(NoAnswer) as missing:
        shop.service.rectify(BRAND, "bob", step_id="priorities", verbatim="price")
    assert (missing.value.subject_id, missing.value.step_id) == ("bob", "priorities")
    with pytest.raises(NoAnswer):
        shop.service.rectify(BRAND, "nobody", step_id="need", verbatim="price")
    assert [a["rectifications"] for a in shop.service.export(BRAND, "bob")["answers"]] == [0, 0]


# --- The chat's words for the service's results (actions/rights_chat.py) -----------------------


def _ask(shop: Shop, request: RightsRequest) -> list[str]:
    applied = shop.runtime.apply(
        brand=BRAND,
        channel="web",
        subject_id="bob",
        conversation_id=f"{BRAND}:web:bob",
        effects=[request],
    )
    return [m.text for m in applied.messages]


def test_the_chat_reads_the_receipts_and_rectifications_back(shop: Shop) -> None:
    version = shop.data.flow.version
    receipts, link = _ask(shop, RightsRequest(right="receipt", flow_version=version))
    day = shop.ledger_of("bob")[0]["timestamp"][:10]
    assert receipts == (
        f"Your consent receipts: What you need: given on {day} (app, button); "
        f"What frustrates you: given on {day} (app, button)."
    )
    assert "Kantara" in link
    [done] = _ask(
        shop,
        RightsRequest(right="rectify", step_id="need", verbatim="road shoes", flow_version=version),
    )
    assert done == "Done: your answer is now 'road shoes' (it was 'trail shoes')."
    [nothing] = _ask(
        shop,
        RightsRequest(right="rectify", step_id="priorities", verbatim="x", flow_version=version),
    )
    assert nothing.startswith("I couldn't find an earlier answer of yours")
