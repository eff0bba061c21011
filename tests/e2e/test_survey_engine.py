"""Whole survey conversations through the chat API, the real Rasa engine and the brand store."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from bot.pseudonym import subject_id
from nlu.listening import listen
from storage import ledger, records
from storage.schema import Answer, ConsentEvent
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "basics-store"


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def subject(stack: Stack, user: str) -> str:
    return subject_id(stack.settings.key, brand=BRAND, channel="api", user_id=user)


def stored(stack: Stack, user: str) -> tuple[list[records.AnswerView], list[ConsentEvent]]:
    with stack.stores.brand(BRAND) as session:
        sid = subject(stack, user)
        return (
            records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid),
            records.consents_of(session, subject_id=sid),
        )


def texts(messages: list[dict]) -> str:
    return " | ".join(m["text"] for m in messages)


def test_full_survey_with_why_button_free_text_and_skip(stack: Stack) -> None:
    user = new_user()
    hello = stack.say(BRAND, user, payload="/greet")
    assert "a bot" in hello[0]["text"]
    assert [b["title"] for b in hello[-1]["buttons"]] == ["Yes", "No", "More"]

    why = stack.say(BRAND, user, text="why do you want to know?")
    assert "choose what we stock" in why[0]["text"]
    assert why[-1]["buttons"], "the consent question is asked again after the explanation"

    activity_q = stack.say(BRAND, user, payload=hello[-1]["buttons"][0]["payload"])
    assert "outdoors" in activity_q[-1]["text"]
    hiking = next(b for b in activity_q[-1]["buttons"] if b["title"] == "hiking")

    need_q = stack.say(BRAND, user, payload=hiking["payload"])
    assert "shopping for" in need_q[-1]["text"]
    answers, _ = stored(stack, user)
    assert [(a.step_id, a.verbatim) for a in answers] == [("activity", "hiking")], (
        "the answer is committed before the reply that acknowledges it"
    )

    consent_q = stack.say(BRAND, user, text="no idea, maybe boots?")
    # The acknowledgement repeats the key phrase listening heard, never the raw words.
    heard = listen("no idea, maybe boots?", need_q[-1]["text"]).echo
    assert heard
    assert consent_q[0]["text"] == f"Got it: {heard}."
    assert "no idea" not in texts(consent_q)
    assert "frustrates" in consent_q[-1]["text"]

    frustration_q = stack.say(BRAND, user, text="yes")
    assert "annoys you" in frustration_q[-1]["text"]

    end = stack.say(BRAND, user, text="skip")
    assert "skip" in texts(end)
    assert "forget me" in end[-1]["text"]

    answers, consents = stored(stack, user)
    assert [(a.step_id, a.verbatim, a.value) for a in answers] == [
        ("activity", "hiking", "hiking"),
        ("need", "no idea, maybe boots?", "no idea, maybe boots?"),
    ]
    given = {c.id: c for c in consents if c.event == "given"}
    for answer in answers:
        assert answer.consent_event_id in given
        assert given[answer.consent_event_id].purpose == answer.purpose == "needs"
    methods = {
        (c.purpose, c.event, ledger.payload(c)["collection_method"])
        for c in consents
        if c.event != "requested"
    }
    assert methods == {
        ("needs", "given", "api:button"),
        ("frustrations", "given", "api:text"),
    }
    assert not [a for a in answers if a.step_id == "frustration"]


def test_declining_consent_stores_nothing_and_ends_politely(stack: Stack) -> None:
    user = new_user()
    stack.say(BRAND, user, payload="/greet")
    second = stack.say(BRAND, user, text="no thanks")
    assert "won't ask" in texts(second)
    assert "frustrates" in second[-1]["text"]
    end = stack.say(BRAND, user, payload="/deny")
    assert "haven't stored anything" in end[-1]["text"]
    answers, consents = stored(stack, user)
    assert answers == []
    assert sorted((c.purpose, c.event) for c in consents if c.event != "requested") == [
        ("frustrations", "refused"),
        ("needs", "refused"),
    ]


def test_stop_mid_flow_ends_and_records_nothing_after(stack: Stack) -> None:
    user = new_user()
    stack.say(BRAND, user, payload="/greet")
    stack.say(BRAND, user, payload="/affirm")
    stopped = stack.say(BRAND, user, text="stop")
    assert "stop here" in texts(stopped)
    after = stack.say(BRAND, user, text="boots")
    assert "finished" in texts(after)
    answers, _ = stored(stack, user)
    assert answers == []


def test_answer_that_looks_like_a_command_is_recorded(stack: Stack) -> None:
    user = new_user()
    stack.say(BRAND, user, payload="/greet")
    stack.say(BRAND, user, payload="/affirm")
    stack.say(BRAND, user, text="mostly running")
    stack.say(BRAND, user, text="a rain jacket")
    stack.say(BRAND, user, payload="/affirm")
    stack.say(BRAND, user, text="stop-start deliveries annoy me")
    answers, _ = stored(stack, user)
    assert [(a.step_id, a.verbatim) for a in answers] == [
        ("activity", "mostly running"),
        ("need", "a rain jacket"),
        ("frustration", "stop-start deliveries annoy me"),
    ]


def test_greeting_after_the_end_starts_a_new_survey(stack: Stack) -> None:
    user = new_user()
    stack.say(BRAND, user, payload="/greet")
    stack.say(BRAND, user, text="stop")
    again = stack.say(BRAND, user, text="hello")
    assert "a bot" in again[0]["text"]
    assert again[-1]["buttons"]


def test_tracker_store_is_the_sql_file_from_settings(stack: Stack) -> None:
    from sqlalchemy import create_engine, text

    from bot.engine.supervisor import tracker_db

    db = create_engine(f"sqlite:///{tracker_db(stack.settings)}")
    with db.connect() as conn:
        count = conn.execute(text("select count(*) from events")).scalar_one()
    db.dispose()
    assert count > 0


def test_answers_table_has_no_raw_user_id(stack: Stack) -> None:
    user = new_user()
    stack.say(BRAND, user, payload="/greet")
    stack.say(BRAND, user, payload="/affirm")
    stack.say(BRAND, user, text="boots")
    with stack.stores.brand(BRAND) as session:
        rows = session.execute(select(Answer.subject_id, Answer.conversation_id)).all()
    assert rows
    assert all(user not in value for row in rows for value in row)
