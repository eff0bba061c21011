"""Consent and rights in the chat, through the real engine: one message or one button each."""

from __future__ import annotations

import uuid

import pytest

from bot.pseudonym import subject_id
from storage import ledger, records, tracker_events
from storage.schema import Subject
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "trailhead-outfitters"


def user() -> str:
    return f"rights-{uuid.uuid4().hex[:8]}"


def sid(stack: Stack, who: str, brand: str = BRAND) -> str:
    return subject_id(stack.settings.key, brand=brand, channel="api", user_id=who)


def texts(messages: list[dict]) -> str:
    return " | ".join(m["text"] for m in messages)


def through_frustration(stack: Stack, who: str) -> None:
    """Greet, consent to needs, answer, consent to frustrations, answer the first question."""
    stack.say(BRAND, who, payload="/greet")
    stack.say(BRAND, who, payload="/affirm")
    stack.say(BRAND, who, payload='/choose{"choice": "hiking"}')
    stack.say(BRAND, who, text="a lighter tent")
    stack.say(BRAND, who, payload='/choose{"choice": "weight"}')
    stack.say(BRAND, who, payload='/choose{"choice": "__done__"}')
    stack.say(BRAND, who, payload="/affirm")
    stack.say(BRAND, who, text="waiting ages at the till")


def stored(stack: Stack, who: str) -> tuple[list, list]:
    with stack.stores.brand(BRAND) as session:
        return (
            records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid(stack, who)),
            records.consents_of(session, subject_id=sid(stack, who)),
        )


def test_withdrawal_in_one_message_erases_and_stops_asking(stack: Stack) -> None:
    who = user()
    through_frustration(stack, who)
    reply = stack.say(BRAND, who, text="stop asking about my frustrations")
    assert "withdrawn your consent for 'what frustrates you'" in texts(reply)
    assert "waiting ages at the till" in texts(reply), "the reply says what was erased"
    assert "feel" not in reply[-1]["text"], "no more questions for that purpose"
    answers, consents = stored(stack, who)
    assert {a.purpose for a in answers} == {"needs"}
    assert [c.event for c in consents if c.purpose == "frustrations"][-1] == "withdrawn"


def test_withdrawal_takes_no_more_steps_than_giving(stack: Stack) -> None:
    who = user()
    stack.say(BRAND, who, payload="/greet")
    give_turns = 1
    stack.say(BRAND, who, payload="/affirm")
    _, consents = stored(stack, who)
    assert [c.event for c in consents if c.purpose == "needs"][-1] == "given"
    withdraw_turns = 1
    stack.say(BRAND, who, payload='/withdraw_consent{"purpose": "needs"}')
    _, consents = stored(stack, who)
    assert [c.event for c in consents if c.purpose == "needs"][-1] == "withdrawn"
    assert withdraw_turns <= give_turns


def test_what_do_you_know_about_me_gives_summary_and_json(stack: Stack) -> None:
    who = user()
    through_frustration(stack, who)
    reply = stack.say(BRAND, who, text="what do you know about me?")
    assert "a lighter tent" in texts(reply)
    assert "waiting ages at the till" in texts(reply)
    url = next(m["text"].split(": ", 1)[1] for m in reply if "/api/v1/me/export" in m["text"])
    data = stack.http.get(url.removeprefix(stack.settings.public_base_url)).json()
    assert {a["verbatim"] for a in data["answers"]} >= {
        "a lighter tent",
        "waiting ages at the till",
    }
    assert {c["event"] for c in data["consent_history"]} >= {"requested", "given"}
    assert data["purposes"]["needs"]["retention_days"] == 365
    assert data["rights"]
    assert data["tags"] == []
    assert "segments" in data
    assert stack.http.get("/api/v1/me/export?token=forged.token").status_code == 403


def test_consent_receipt_in_the_chat(stack: Stack) -> None:
    who = user()
    through_frustration(stack, who)
    reply = stack.say(BRAND, who, text="send me my consent receipt")
    assert "What you need: given" in texts(reply)
    url = next(m["text"].split(": ", 1)[1] for m in reply if "/api/v1/me/receipts" in m["text"])
    receipts = stack.http.get(url.removeprefix(stack.settings.public_base_url)).json()
    assert {r["services"][0]["purposes"][0]["purpose"] for r in receipts["consent_receipts"]} == {
        "needs",
        "frustrations",
    }
    assert all(r["version"] == "KI-CR-v1.1.0" for r in receipts["consent_receipts"])


def test_rectification_in_one_message(stack: Stack) -> None:
    who = user()
    through_frustration(stack, who)
    reply = stack.say(
        BRAND, who, text="change my answer about what I'm shopping for to a down jacket"
    )
    assert "'a down jacket'" in texts(reply)
    assert "'a lighter tent'" in texts(reply)
    answers, _ = stored(stack, who)
    assert {a.step_id: a.verbatim for a in answers}["need"] == "a down jacket"


def test_forget_me_confirms_then_erases_everything(stack: Stack) -> None:
    who = user()
    through_frustration(stack, who)
    subject = sid(stack, who)
    tracker = stack.stores.tracker_engine()
    assert tracker_events.count_subject(tracker, brand=BRAND, subject_id=subject) > 0
    ask = stack.say(BRAND, who, text="forget me")
    assert "can't be undone" in texts(ask)
    assert ask[-1]["buttons"]
    answers, _ = stored(stack, who)
    assert answers, "nothing is deleted before the confirmation"
    done = stack.say(BRAND, who, payload="/affirm")
    assert "deleted everything" in texts(done)
    answers, consents = stored(stack, who)
    assert answers == []
    assert consents == []
    with stack.stores.brand(BRAND) as session:
        assert session.get(Subject, subject) is None
        assert not ledger.verify(session)[1]
    assert tracker_events.count_subject(tracker, brand=BRAND, subject_id=subject) == 0


def test_forget_me_can_be_called_off(stack: Stack) -> None:
    who = user()
    through_frustration(stack, who)
    stack.say(BRAND, who, text="delete everything about me")
    kept = stack.say(BRAND, who, payload="/deny")
    assert "haven't deleted anything" in texts(kept)
    answers, _ = stored(stack, who)
    assert len(answers) == 4  # activity, need, priorities, frustration


def test_objection_to_profiling(stack: Stack) -> None:
    who = user()
    through_frustration(stack, who)
    reply = stack.say(BRAND, who, text="don't use my answers for segments")
    assert "won't be used for segments" in texts(reply)
    with stack.stores.brand(BRAND) as session:
        row = session.get(Subject, sid(stack, who))
        assert row is not None
        assert row.objects_to_profiling is True


def test_under_age_customer_gets_a_polite_end_and_nothing_is_kept(stack: Stack) -> None:
    who = user()
    hello = stack.say("northbank-app", who, payload="/greet")
    assert "18 or older" in hello[-1]["text"]
    bye = stack.say("northbank-app", who, payload="/deny")
    assert "only for adults" in texts(bye)
    subject = sid(stack, who, "northbank-app")
    with stack.stores.brand("northbank-app") as session:
        assert session.get(Subject, subject) is None
    assert (
        tracker_events.count_subject(
            stack.stores.tracker_engine(), brand="northbank-app", subject_id=subject
        )
        == 0
    )


def test_greeting_discloses_the_bot_on_every_example(stack: Stack) -> None:
    for brand in ("trailhead-outfitters", "bean-there-coffee", "northbank-app"):
        hello = stack.say(brand, user(), payload="/greet")
        assert any(w in hello[0]["text"].lower() for w in ("bot", "automated", "assistant"))


def test_rights_after_the_survey_get_exactly_one_answer(stack: Stack) -> None:
    who = user()
    stack.say(BRAND, who, payload="/greet")
    stack.say(BRAND, who, payload="/affirm")
    stack.say(BRAND, who, text="stop")
    ask = stack.say(BRAND, who, text="forget me")
    assert len(ask) == 1
    assert ask[0]["buttons"]
    done = stack.say(BRAND, who, payload="/affirm")
    assert len(done) == 1
    assert "deleted everything" in done[0]["text"]


def test_content_comes_before_the_closing_words(stack: Stack) -> None:
    who = user()
    for step in (
        {"payload": "/greet"},
        {"payload": "/affirm"},
        {"payload": '/choose{"choice": "hiking"}'},
        {"text": "a tent"},
        {"payload": '/choose{"choice": "price"}'},
        {"payload": '/choose{"choice": "__done__"}'},
        {"payload": "/deny"},
    ):
        reply = stack.say(BRAND, who, **step)
    end = stack.say(BRAND, who, payload="/affirm")  # tailored content consent
    texts_ = [m["text"] for m in end]
    tip = next((i for i, t in enumerate(texts_) if t.startswith("Tip:")), None)
    assert tip is not None, texts_
    assert tip < texts_.index("That's all my questions."), texts_
    assert reply
