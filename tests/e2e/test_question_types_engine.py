"""Every typed question on the real engine: NPS, a labelled scale, a number, a ranking, a date,
and contact details, typed the way customers type them and tapped where there are buttons.

The flow is consent_flows/examples/tricky/question-types.yaml (brand spoke-and-chain).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from bot.pseudonym import subject_id
from storage import records
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "spoke-and-chain"


def new_user() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def stored(stack: Stack, user: str) -> dict[str, records.AnswerView]:
    sid = subject_id(stack.settings.key, brand=BRAND, channel="api", user_id=user)
    with stack.stores.brand(BRAND) as session:
        answers = records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid)
    return {a.step_id: a for a in answers}


def button(messages: list[dict], title: str) -> str:
    return next(b["payload"] for b in messages[-1]["buttons"] if b["title"] == title)


def titles(messages: list[dict]) -> list[str]:
    return [b["title"] for b in messages[-1]["buttons"]]


def to_the_ranking(stack: Stack, user: str) -> list[dict]:
    hello = stack.say(BRAND, user, payload="/greet")
    nps = stack.say(BRAND, user, payload=button(hello, "Yes"))
    assert "recommend" in nps[-1]["text"]
    assert titles(nps)[0] == "0 · Not at all likely"
    assert titles(nps)[-1] == "10 · Extremely likely"
    refused = stack.say(BRAND, user, text="11")
    assert "0 to 10" in " ".join(m["text"] for m in refused)
    ease = stack.say(BRAND, user, text="9")
    assert titles(ease) == ["1 · very hard", "2", "3", "4", "5", "6", "7 · very easy"]
    rides = stack.say(BRAND, user, payload=button(ease, "6"))
    assert "rides" in rides[-1]["text"]
    assert "whole number" in " ".join(m["text"] for m in stack.say(BRAND, user, text="2.5"))
    return stack.say(BRAND, user, text="about 4 a week")


def test_typed_and_tapped_answers_are_stored_as_values(stack: Stack) -> None:
    user = new_user()
    ranking = to_the_ranking(stack, user)
    assert titles(ranking) == ["price", "speed", "quality"]
    second = stack.say(BRAND, user, payload=button(ranking, "quality"))
    assert "1. quality" in second[-1]["text"]
    assert titles(second) == ["price", "speed", "Done"]
    date_q = stack.say(BRAND, user, payload=button(second, "price"))
    assert "next service" in date_q[-1]["text"]

    before = datetime.now(UTC).date()
    consent = stack.say(BRAND, user, text="tomorrow")
    after = datetime.now(UTC).date()
    assert "e-mail" in consent[-1]["text"].lower()
    email_q = stack.say(BRAND, user, payload=button(consent, "Yes"))
    assert "e-mail address" in email_q[-1]["text"]
    retry = stack.say(BRAND, user, text="jo at example dot com")
    assert "e-mail address" in " ".join(m["text"] for m in retry).lower()
    phone_q = stack.say(BRAND, user, text="it's Jo.Rider@Example.COM")
    assert "jo.rider" not in " ".join(m["text"] for m in phone_q).lower(), (
        "contact details are never said back"
    )
    end = stack.say(BRAND, user, text="+44 20 7946 0018")
    assert "forget me" in end[-1]["text"]

    answers = stored(stack, user)
    assert answers["recommend"].value == 9
    assert answers["ease"].value == 6
    assert answers["rides"].value == 4
    assert answers["rides"].verbatim == "about 4 a week"
    assert answers["priorities"].value == ["quality", "price", "speed"]
    tomorrow = {(d + timedelta(days=1)).isoformat() for d in (before, after)}
    assert answers["next_service"].value in tomorrow
    assert answers["email"].value == "Jo.Rider@example.com"
    assert answers["phone"].value == "+442079460018"


def test_contact_details_are_not_kept_without_their_consent(stack: Stack) -> None:
    user = new_user()
    to_the_ranking(stack, user)
    stack.say(BRAND, user, text="speed, quality, price")
    consent = stack.say(BRAND, user, text="12 March")
    end = stack.say(BRAND, user, payload=button(consent, "No"))
    assert "forget me" in end[-1]["text"]
    # Sent anyway, after the refusal: nothing is stored, whatever it looks like.
    stack.say(BRAND, user, text="jo@example.com")
    answers = stored(stack, user)
    assert answers["priorities"].value == ["speed", "quality", "price"]
    assert answers["next_service"].value.endswith("-03-12")
    assert "email" not in answers
    assert "phone" not in answers


def test_control_words_still_work_at_a_typed_question(stack: Stack) -> None:
    user = new_user()
    hello = stack.say(BRAND, user, payload="/greet")
    stack.say(BRAND, user, payload=button(hello, "Yes"))
    why = stack.say(BRAND, user, text="why do you want to know?")
    assert "workshop" in why[0]["text"]
    skipped = stack.say(BRAND, user, text="skip")
    assert "book your service" in skipped[-1]["text"]
    assert "recommend" not in stored(stack, user)
