"""A turn replayed after a crash stores nothing twice (issue 14, items 5 and 9; storage/turns.py).

The engine saves its tracker only after the action call committed the turn's effects. When it
(or the gateway) dies in between, the client resends and the engine replays the turn from the
state it saved before. Here the survey action runs a turn, "crashes" (its events are thrown
away, as the engine never saved them) and runs again from the same tracker, as the replay does.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import event

from actions.runtime import Runtime, turn_key
from actions.survey import STATE_SLOT, ValidateSurveyForm, load_state
from bot.brands import publish_flow_file
from storage import funnel, ledger, records, turns
from storage.stores import Stores
from tests.factories import EXAMPLES
from tests.pg import StoreBackend

BRAND = "basics-store"
FLOW = EXAMPLES / f"{BRAND}.yaml"
# The whole survey: (text, intent, entities); None for the state means "new conversation".
SCRIPT: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("/greet", "greet", []),
    ("/affirm", "affirm", []),
    ('/choose{"choice": "hiking"}', "choose", [{"entity": "choice", "value": "hiking"}]),
    ("a light rain jacket", "inform", []),
    ("/affirm", "affirm", []),
    ("no stock in my size", "inform", []),
]


class Survey:
    """One conversation driven through the real survey action, on a real store."""

    def __init__(self, stores: Stores, subject: str) -> None:
        self.stores, self.subject = stores, subject
        self.action = ValidateSurveyForm(Runtime(stores=stores, control_threshold=0.8))
        self.state: Any = None
        self.question: str | None = None
        self.at = 1_700_000_000.0

    def tracker(self, k: int) -> Tracker:
        text, intent, entities = SCRIPT[k]
        self.at += 5.0 if k else 0.0
        slots = {STATE_SLOT: json.dumps(self.state) if self.state is not None else None}
        return Tracker(
            f"{BRAND}:api:{self.subject}",
            slots,
            {
                "text": text,
                "intent": {"name": intent, "confidence": 1.0},
                "entities": entities,
                "metadata": {"reply_to": self.question} if self.question else {},
            },
            [{"event": "user", "timestamp": self.at, "text": text}],
            False,
            None,
            {"name": "survey_form"},
            None,
        )

    def run(self, tracker: Tracker) -> dict[str, Any]:
        """One attempt of a turn: the state it would save and the question it shows."""
        dispatcher = CollectingDispatcher()
        events = self.action.run(dispatcher, tracker, {})
        state = next(e["value"] for e in events if e.get("name") == STATE_SLOT)
        question = next(
            (m["custom"]["candor_question"] for m in dispatcher.messages if m.get("custom")), None
        )
        return {"state": state, "question": question}

    def turn(self, k: int, *, crash_first: bool = False) -> None:
        tracker = self.tracker(k)
        if crash_first:
            self.run(tracker)  # committed to the store; the engine died before saving it
        saved = self.run(tracker)  # the resend, replayed from the same saved state
        self.state, self.question = saved["state"], saved["question"] or self.question

    def stored(self) -> dict[str, Any]:
        with self.stores.brand(BRAND) as session:
            keyring = self.stores.keyring(BRAND)
            return {
                "consents": [
                    (e.purpose, e.event)
                    for e in records.consents_of(session, subject_id=self.subject)
                ],
                "answers": [
                    (a.step_id, a.verbatim)
                    for a in records.answers_of(session, keyring, subject_id=self.subject)
                ],
            }


def _stores(backend: StoreBackend) -> Stores:
    stores = backend.stores()
    publish_flow_file(stores, FLOW)
    return stores


def _funnel(stores: Stores) -> dict[str, dict[str, int]]:
    with stores.brand(BRAND) as session:
        return funnel.totals(session)


def _ledger(stores: Stores) -> tuple[int, list[Any]]:
    with stores.brand(BRAND) as session:
        return ledger.verify(session)


@pytest.mark.parametrize("crashed", range(len(SCRIPT)))
def test_a_turn_replayed_after_a_crash_stores_nothing_twice(
    store_backend: StoreBackend, crashed: int
) -> None:
    stores = _stores(store_backend)
    reference = Survey(stores, "r" * 64)
    for k in range(len(SCRIPT)):
        reference.turn(k)
    expected = reference.stored()
    assert expected["consents"] == [
        ("needs", "requested"),
        ("needs", "given"),
        ("frustrations", "requested"),
        ("frustrations", "given"),
    ]
    once = _funnel(stores)

    replayed = Survey(stores, "c" * 64)
    for k in range(len(SCRIPT)):
        replayed.turn(k, crash_first=k == crashed)
    assert replayed.stored() == expected, "a replayed turn stored something twice"
    twice = _funnel(stores)
    assert twice == {
        step: {event: 2 * n for event, n in counts.items()} for step, counts in once.items()
    }, "a replayed turn counted a step twice"
    assert _ledger(stores) == (8, [])


def test_a_new_turn_from_another_state_is_never_taken_for_a_replay(
    store_backend: StoreBackend,
) -> None:
    survey = Survey(_stores(store_backend), "n" * 64)
    survey.turn(0)
    survey.turn(1)
    survey.state, survey.question = None, None  # "hi" again, the tracker gone (under age, ...)
    survey.turn(0)
    survey.turn(1)
    assert survey.stored()["consents"] == [("needs", "requested"), ("needs", "given")] * 2


def test_turn_keys_differ_for_every_saved_turn_and_hold_no_words(
    store_backend: StoreBackend,
) -> None:
    survey = Survey(_stores(store_backend), "k" * 64)
    keys = [turn_key(None)]
    for k in range(len(SCRIPT)):
        survey.turn(k)
        keys.append(turn_key(load_state(survey.tracker(0))))
    assert len(set(keys)) == len(keys)
    assert not any("rain jacket" in key or "size" in key for key in keys)
    with survey.stores.brand(BRAND) as session:
        rows = session.query(turns.TurnReceipt).all()
    assert len(rows) == 1, "one receipt per conversation: its latest turn"
    assert survey.subject not in rows[0].conversation + rows[0].turn + rows[0].done_json


def test_each_turn_writes_its_receipt_once(store_backend: StoreBackend) -> None:
    """One statement on `turn_receipts` per turn (an insert for the first, then updates): the
    receipt is the turn's fixed cost, paid on every message of every conversation."""
    stores = _stores(store_backend)
    survey = Survey(stores, "w" * 64)
    writes: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "turn_receipts" in statement and statement.lstrip().startswith(("INSERT", "UPDATE")):
            writes.append(statement.lstrip().split()[0])

    engine = stores.brand_engine(BRAND)
    event.listen(engine, "before_cursor_execute", note)
    try:
        per_turn = []
        for k in range(len(SCRIPT)):
            writes.clear()
            survey.turn(k)
            per_turn.append(list(writes))
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert per_turn == [["INSERT"]] + [["UPDATE"]] * (len(SCRIPT) - 1)
