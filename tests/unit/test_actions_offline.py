"""The three rasa-sdk actions, run without the engine: trackers built from plain dicts.

The engine hands an action a tracker (sender id `brand:channel:subject`, slots, the latest
message with its intent, entities and metadata, and the events) and applies the events it
returns. `Chat` does the same for one conversation, with the actions from `all_actions` on a
real `Runtime` over SQLite stores, so each test sees what the engine would dispatch, which
events it would apply, and what the brand's store holds afterwards.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import Runtime
from actions.survey import ANSWER_SLOT, DONE, FORM, LISTEN, STATE_SLOT, all_actions
from bot.brands import publish_flow_file
from consent_flows import interpreter, notices, outside
from consent_flows.contract import AFTER_TURN, QUESTION_TOKEN
from storage import ledger, records
from storage.stores import Stores
from tests.factories import BASICS_FLOW

BRAND = "basics-store"
VALIDATE, DONE_ACTION, CONTROL = f"validate_{FORM}", "action_survey_done", "action_control"
START = 1_700_000_000.0


# --- tracker-dict factories ----------------------------------------------------------------------


@dataclass(frozen=True)
class Said:
    """One customer message as the engine's NLU hands it to an action."""

    text: str
    intent: str | None
    confidence: float
    entities: tuple[dict[str, Any], ...] = ()


def typed(text: str, intent: str | None = "inform", confidence: float = 0.95) -> Said:
    return Said(text, intent, confidence)


def button(intent: str, **entities: str) -> Said:
    """A button press: Rasa reads the payload `/intent{"entity": "value"}` at confidence 1."""
    text = f"/{intent}" + (json.dumps(entities) if entities else "")
    found = tuple({"entity": name, "value": value} for name, value in entities.items())
    return Said(text, intent, 1.0, found)


def tracker_dict(
    sender_id: str,
    said: Said,
    *,
    state: dict[str, Any] | None = None,
    reply_to: str | None = None,
    at: float = START,
    active_loop: str | None = None,
) -> dict[str, Any]:
    """The tracker state the engine sends with an action call, as plain data."""
    return {
        "sender_id": sender_id,
        "slots": {STATE_SLOT: state, ANSWER_SLOT: None},
        "latest_message": {
            "text": said.text,
            "intent": {"name": said.intent, "confidence": said.confidence},
            "entities": list(said.entities),
            "metadata": {"reply_to": reply_to} if reply_to else {},
        },
        "events": [{"event": "user", "timestamp": at, "text": said.text}],
        "paused": False,
        "followup_action": None,
        "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action_name": "action_listen",
    }


# --- one conversation, run as the engine runs it ------------------------------------------------


@dataclass
class Ran:
    """What one action call produced: the dispatched messages and the returned events."""

    messages: list[dict[str, Any]]
    events: list[dict[str, Any]]

    @property
    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages if m.get("text")]

    @property
    def custom(self) -> list[dict[str, Any]]:
        return [m["custom"] for m in self.messages if m.get("custom")]

    @property
    def question(self) -> str | None:
        return next((c[QUESTION_TOKEN] for c in self.custom if QUESTION_TOKEN in c), None)

    def slot(self, name: str) -> Any:
        """The value this call sets `name` to (KeyError: it leaves the slot alone)."""
        return next(e["value"] for e in self.events if e["event"] == "slot" and e["name"] == name)

    def kinds(self) -> list[tuple[str, Any]]:
        return [(e["event"], e.get("name")) for e in self.events]


@dataclass
class Chat:
    """One conversation: it keeps the slots the actions set, as the engine's tracker does."""

    runtime: Runtime
    subject: str
    state: dict[str, Any] | None = None
    question: str | None = None
    at: float = START
    actions: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.actions = {action.name(): action for action in all_actions(self.runtime)}

    @property
    def sender_id(self) -> str:
        return f"{BRAND}:api:{self.subject}"

    def run(self, action: str, said: Said, *, reply_to: str | None = None) -> Ran:
        self.at += 5.0
        tracker = Tracker.from_dict(
            tracker_dict(
                self.sender_id,
                said,
                state=self.state,
                reply_to=reply_to if reply_to is not None else self.question,
                at=self.at,
                active_loop=FORM if action == VALIDATE else None,
            )
        )
        dispatcher = CollectingDispatcher()
        events = self.actions[action].run(dispatcher, tracker, {})
        ran = Ran(dispatcher.messages, events)
        for event in events:
            if event["event"] == "slot" and event["name"] == STATE_SLOT:
                self.state = event["value"]
        self.question = ran.question or self.question
        return ran

    def answer(self, said: Said) -> Ran:
        return self.run(VALIDATE, said)

    def survey(self) -> Ran:
        """The whole basics-store survey, both consents given; the last turn's call."""
        for said in (
            button("greet"),
            button("affirm"),
            button("choose", choice="hiking"),
            typed("a light rain jacket"),
            button("affirm"),
        ):
            self.answer(said)
        return self.answer(typed("no stock in my size"))

    def stored(self) -> dict[str, list[tuple[str | None, str | None]]]:
        stores = self.runtime.stores
        with stores.brand(BRAND) as session:
            answers = records.answers_of(session, stores.keyring(BRAND), subject_id=self.subject)
            consents = records.consents_of(session, subject_id=self.subject)
            return {
                "answers": [(a.step_id, a.verbatim) for a in answers],
                "consents": [(c.purpose, c.event) for c in consents],
            }


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    stores = Stores(tmp_path / "data")
    publish_flow_file(stores, BASICS_FLOW)
    try:
        yield Runtime(stores=stores, control_threshold=0.7)
    finally:
        stores.dispose()


@pytest.fixture
def chat(runtime: Runtime) -> Chat:
    return Chat(runtime, "subject-1")


# --- the tracker factory itself ------------------------------------------------------------------


def test_the_factory_builds_the_tracker_the_engine_would_send() -> None:
    tracker = Tracker.from_dict(
        tracker_dict(f"{BRAND}:api:s", button("choose", choice="hiking"), reply_to="r1.2")
    )
    assert tracker.sender_id == f"{BRAND}:api:s"
    assert tracker.latest_message["intent"] == {"name": "choose", "confidence": 1.0}
    assert tracker.latest_message["entities"] == [{"entity": "choice", "value": "hiking"}]
    assert tracker.latest_message["metadata"] == {"reply_to": "r1.2"}
    assert tracker.get_slot(STATE_SLOT) is None


def test_all_actions_are_the_three_the_domain_names(runtime: Runtime) -> None:
    domain = (Path(__file__).parents[2] / "nlu" / "rasa" / "domain.yml").read_text()
    names = [action.name() for action in all_actions(runtime)]
    assert sorted(names) == sorted([VALIDATE, DONE_ACTION, CONTROL])
    assert all(f"  - {name}\n" in domain for name in names)


# --- validate_survey_form -----------------------------------------------------------------------


def test_a_new_conversation_gets_the_greeting_and_the_first_consent_question(chat: Chat) -> None:
    ran = chat.answer(button("greet"))
    flow = chat.runtime.flow(BRAND)
    assert ran.texts == [
        flow.greeting[0],
        notices.compose(flow, "needs").short,
    ]
    # The short notice opens with the brand's own words, and "More" offers the full one.
    assert ran.texts[1].startswith(flow.purposes["needs"].notice.text)
    assert ran.messages[1]["buttons"] == [
        {"title": "Yes", "payload": "/affirm"},
        {"title": "No", "payload": "/deny"},
        {"title": "More", "payload": '/choose{"choice": "__more__"}'},
    ]
    state = ran.slot(STATE_SLOT)
    assert (state["status"], state["position"], state["flow_version"]) == ("active", 0, 1)
    assert ran.question == state["question"]
    assert state["question"]
    assert ran.slot(ANSWER_SLOT) is None  # the form keeps asking
    assert chat.stored() == {"answers": [], "consents": [("needs", "requested")]}


def _notice_hashes(chat: Chat) -> dict[tuple[str | None, str | None], str]:
    with chat.runtime.stores.brand(BRAND) as session:
        return {
            (row.purpose, row.event): ledger.payload(row)["notice_sha256"]
            for row in records.consents_of(session, subject_id=chat.subject)
        }


def test_the_ledger_hashes_exactly_the_notice_the_customer_was_shown(chat: Chat) -> None:
    """Recompute each consent's notice hash from the messages the customer received: the short
    notice alone for a plain Yes, the short and the full notice when they pressed More first."""
    greeted = chat.answer(button("greet"))
    short = greeted.texts[-1]
    more = chat.answer(button("choose", choice=notices.MORE))
    # More records nothing, spends no attempt and shows the full notice, with Yes / No only.
    assert chat.stored()["consents"] == [("needs", "requested")]
    assert chat.state is not None
    assert chat.state["attempts"] == 0
    [shown] = [m for m in more.messages if m.get("text")]
    full = shown["text"]
    assert "Art. 6(1)(a)" in full
    assert "supervisory authority" in full
    assert [b["title"] for b in shown["buttons"]] == ["Yes", "No"]
    after = chat.answer(button("affirm"))
    hashes = _notice_hashes(chat)
    assert hashes[("needs", "given")] == hashlib.sha256(f"{short}\n\n{full}".encode()).hexdigest()
    assert hashes[("needs", "requested")] == hashlib.sha256(short.encode()).hexdigest()
    # The next consent, said yes to from the short notice alone: its hash is that text's.
    for said in (button("choose", choice="hiking"), typed("a light rain jacket")):
        after = chat.answer(said)
    flow = chat.runtime.flow(BRAND)
    [second] = [t for t in after.texts if t.startswith(flow.purposes["frustrations"].notice.text)]
    assert "sensitive" in second  # composed from the purpose's fields, not only its words
    chat.answer(button("affirm"))
    hashes = _notice_hashes(chat)
    assert hashes[("frustrations", "given")] == hashlib.sha256(second.encode()).hexdigest()


def test_each_answer_is_stored_acknowledged_and_followed_by_the_next_question(
    chat: Chat,
) -> None:
    chat.answer(button("greet"))
    consent = chat.answer(button("affirm"))
    assert consent.texts == ["Thank you!", "What gets you outdoors most?"]
    assert {"title": "hiking", "payload": '/choose{"choice": "hiking"}'} in consent.messages[1][
        "buttons"
    ]
    picked = chat.answer(button("choose", choice="hiking"))
    assert picked.texts == ["Nice, hiking!", "What are you shopping for at the moment?"]
    typed_answer = chat.answer(typed("a light rain jacket"))
    # The flow's "Got it: {answer}." holds the key phrase listening heard, not the raw text.
    assert typed_answer.texts[0] == "Got it: light rain jacket."
    assert chat.stored()["answers"] == [
        ("activity", "hiking"),
        ("need", "a light rain jacket"),
    ]
    assert chat.stored()["consents"] == [
        ("needs", "requested"),
        ("needs", "given"),
        ("frustrations", "requested"),
    ]
    # Each question had its own token.
    assert len({consent.question, picked.question, typed_answer.question}) == 3


def test_the_last_answer_ends_the_form(chat: Chat) -> None:
    last = chat.survey()
    assert last.slot(ANSWER_SLOT) == DONE  # the engine's form completes
    assert last.slot(STATE_SLOT)["status"] == "ended"
    assert last.question is None  # nothing left to answer
    assert last.texts == [
        "Thanks for telling me, that helps.",
        "That's all my questions.",
        "Thanks! You can say 'show my data' or 'forget me' any time.",
    ]
    stored = chat.stored()
    assert stored["answers"] == [
        ("activity", "hiking"),
        ("need", "a light rain jacket"),
        ("frustration", "no stock in my size"),
    ]
    assert stored["consents"][-1] == ("frustrations", "given")


def test_an_answer_to_an_earlier_question_is_not_filed_under_the_current_one(chat: Chat) -> None:
    first = chat.answer(button("greet")).question
    chat.answer(button("affirm"))
    late = chat.run(VALIDATE, typed("a tent"), reply_to=first)  # metadata.reply_to
    assert late.texts[0] == interpreter.OUT_OF_TURN_TEXT
    assert chat.stored()["answers"] == []


def test_a_greeting_after_an_ended_survey_starts_a_new_response(chat: Chat) -> None:
    chat.survey()
    assert chat.state is not None
    before = chat.state["response_id"]
    ran = chat.answer(button("greet"))
    state = ran.slot(STATE_SLOT)
    assert state["status"] == "active"
    assert state["response_id"] != before
    assert ran.texts[0] == chat.runtime.flow(BRAND).greeting[0]
    assert len(chat.stored()["answers"]) == 3  # the first response is kept, not overwritten


# --- action_survey_done --------------------------------------------------------------------------


def test_survey_done_clears_the_form_slot_and_says_nothing(chat: Chat) -> None:
    chat.survey()
    ran = chat.run(DONE_ACTION, typed("no stock in my size"))
    assert ran.messages == []
    assert ran.kinds() == [("slot", ANSWER_SLOT)]
    assert ran.slot(ANSWER_SLOT) is None


# --- action_control -------------------------------------------------------------------------------


def test_control_hands_a_survey_under_way_back_to_the_form(chat: Chat) -> None:
    chat.answer(button("greet"))
    ran = chat.run(CONTROL, typed("stop", "stop", 0.4))
    assert ran.messages == []
    assert ran.kinds() == [("followup", FORM)]
    assert chat.stored()["consents"] == [("needs", "requested")]


def test_control_starts_the_survey_on_a_conversations_first_message(chat: Chat) -> None:
    ran = chat.run(CONTROL, typed("hello there, what's this?", "inform", 0.5))
    assert ran.kinds() == [("followup", FORM)]
    assert chat.state is None


@pytest.mark.parametrize(
    ("intent", "reply"),
    [
        ("stop", interpreter.GOODBYE_TEXT),
        ("goodbye", interpreter.GOODBYE_TEXT),
        ("help", interpreter.HELP_TEXT),
        ("why", interpreter.HELP_TEXT),
        ("change_answer", outside.CHANGE_ANSWER_TEXT),
        ("forget_me", interpreter.ENDED_TEXT),  # unsure (below the threshold): no erasure
    ],
)
def test_control_answers_a_first_message_that_asks_for_something_else(
    chat: Chat, intent: str, reply: str
) -> None:
    confidence = 0.4 if intent == "forget_me" else 0.95
    ran = chat.run(CONTROL, typed("erm, well", intent, confidence))
    assert ran.texts == [reply]
    # No state is made up: the customer's next message can still start a survey.
    assert ran.kinds() == [("active_loop", None), ("followup", LISTEN)]
    assert chat.state is None
    assert chat.run(CONTROL, typed("ok then", "inform", 0.9)).kinds() == [("followup", FORM)]


def test_control_answers_are_you_a_bot_honestly(chat: Chat) -> None:
    ran = chat.run(CONTROL, typed("are you a bot?", "bot_challenge", 0.99))
    assert ran.texts == [interpreter.BOT_TEXT]
    assert ran.kinds() == [("active_loop", None), ("followup", LISTEN)]


def test_control_after_a_survey_says_it_is_finished(chat: Chat) -> None:
    chat.survey()
    ran = chat.run(CONTROL, typed("lovely weather", "inform", 0.6))
    assert ran.texts == [interpreter.ENDED_TEXT]
    assert ran.kinds() == [("active_loop", None), ("followup", LISTEN)]


def test_control_withdraws_every_consent_and_what_it_covered(chat: Chat) -> None:
    chat.survey()
    ran = chat.run(CONTROL, typed("I withdraw my consent", "withdraw_consent", 0.95))
    state = ran.slot(STATE_SLOT)
    assert state["granted"] == []
    assert sorted(state["withdrawn"]) == ["frustrations", "needs"]
    assert ran.kinds()[-2:] == [("active_loop", None), ("followup", LISTEN)]
    stored = chat.stored()
    assert stored["answers"] == []
    assert ("needs", "withdrawn") in stored["consents"]
    assert ("frustrations", "withdrawn") in stored["consents"]
    assert ran.texts, "the customer is told what happened"


def test_control_erases_everything_after_a_confirmation(chat: Chat) -> None:
    chat.survey()
    asked = chat.run(CONTROL, typed("forget me", "forget_me", 0.97))
    assert asked.slot(STATE_SLOT)["confirming"] == "erase"
    assert [b["payload"] for b in asked.messages[0]["buttons"]] == ["/affirm", "/deny"]
    assert len(chat.stored()["answers"]) == 3, "nothing is erased before the yes"
    done = chat.run(CONTROL, button("affirm"))
    assert chat.stored() == {"answers": [], "consents": []}
    assert done.slot(STATE_SLOT)["confirming"] is None
    # The engine's own copy of the conversation goes after the turn (the gateway does it).
    assert any("erase_tracker" in task for c in done.custom for task in c.get(AFTER_TURN, []))


def test_control_on_a_new_conversation_carries_out_a_rights_request(chat: Chat) -> None:
    ran = chat.run(CONTROL, typed("show me my data", "show_my_data", 0.95))
    assert ran.texts, "the customer gets their data (here: that there is none)"
    state = ran.slot(STATE_SLOT)
    assert state["status"] == "ended"
    assert state["granted"] == []
    # A greeting afterwards still starts the survey.
    assert chat.answer(button("greet")).slot(STATE_SLOT)["status"] == "active"
