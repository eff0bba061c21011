"""Following a brand through the real engine and the widget's socket: the yes is kept as a
follower, "what do you send me?" is answered from the store, the Unfollow button and
"stop updates" each end following at once, and nothing else the customer said goes with it."""

from __future__ import annotations

import uuid

import pytest

from bot.pseudonym import subject_id
from storage import follow, records
from tests.channels.test_web import WebUser, widget
from tests.stack import Stack

pytestmark = pytest.mark.engine
BRAND = "follow-store"
UNFOLLOW = '/withdraw_consent{"purpose": "updates"}'


def texts(messages: list[dict]) -> str:
    return " | ".join(m["text"] for m in messages)


def subject(stack: Stack, user: WebUser) -> str:
    return subject_id(stack.settings.key, brand=BRAND, channel="web", user_id=user.user_id)


def following(stack: Stack, user: WebUser) -> bool:
    with stack.stores.brand(BRAND) as session:
        return follow.is_following(session, subject(stack, user))


def through_the_survey(user: WebUser) -> list[dict]:
    """Greet, agree to needs, answer, and reach the follow consent; returns its messages."""
    user.press("/greet")
    user.press("/affirm")
    return user.say("a lighter tent")


def test_saying_yes_follows_and_the_unfollow_button_ends_it(stack: Stack) -> None:
    with widget(stack, BRAND, user_id=f"follow-{uuid.uuid4().hex[:12]}") as user:
        asked = through_the_survey(user)
        assert "at most one update a week" in texts(asked)
        assert "stop updates" in texts(asked)
        assert not following(stack, user)  # asked, not yet agreed
        user.press("/affirm")
        assert following(stack, user)
        told = user.say("what do you send me?")
        assert "You follow us on web" in texts(told)
        assert "at most one update a week" in texts(told)
        user.press(UNFOLLOW)
        assert not following(stack, user)
        with stack.stores.brand(BRAND) as session:
            kept = records.answers_of(
                session, stack.stores.keyring(BRAND), subject_id=subject(stack, user)
            )
            events = records.consents_of(session, subject_id=subject(stack, user))
        assert [a.verbatim for a in kept] == ["a lighter tent"]  # unfollowing kept the answer
        assert [e.event for e in events if e.purpose == "updates"][-1] == "withdrawn"


def test_stop_updates_typed_after_the_survey(stack: Stack) -> None:
    with widget(stack, BRAND, user_id=f"follow-{uuid.uuid4().hex[:12]}") as user:
        through_the_survey(user)
        user.press("/affirm")
        assert following(stack, user)
        reply = user.say("stop updates")
        assert "updates from us" in texts(reply)
        assert not following(stack, user)


def test_saying_no_follows_nothing(stack: Stack) -> None:
    with widget(stack, BRAND, user_id=f"follow-{uuid.uuid4().hex[:12]}") as user:
        through_the_survey(user)
        user.press("/deny")
        assert not following(stack, user)
        assert "You don't follow us" in texts(user.say("what do you send me?"))
