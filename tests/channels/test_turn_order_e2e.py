"""An answer belongs to the question it answers, end to end: the real engine, the real gateway,
the brand's real store (issue 12, item 9).

"hiking" answers "What gets you outdoors most?"; a second message sent before "What are you
shopping for?" reached the customer, or the same message sent twice, must never be stored as
the answer to that unseen question.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot.gateway.state import gateway_of
from tests.channels.conftest import BRAND, stored, wait_until
from tests.channels.factories import (
    Credentials,
    bot_message_from,
    next_id,
    tg_callback,
    tg_message,
    tg_post,
)
from tests.channels.standins import StandIns
from tests.stack import Stack

pytestmark = pytest.mark.engine
CHAT = f"/api/v1/chat/{BRAND}"


def at_activity(stack: Stack, user_id: str) -> list[dict[str, Any]]:
    """Greet and consent: the activity question is on screen; its messages."""
    stack.say(BRAND, user_id, payload="/greet")
    return stack.say(BRAND, user_id, payload="/affirm")


def steps(stack: Stack, channel: str, user_id: str) -> list[str]:
    return [step for step, _, _ in stored(stack, channel, user_id).answers]


def test_the_question_token_rides_on_the_prompt_and_is_never_shown(stack: Stack) -> None:
    user = f"e2e-{next_id()}"
    messages = at_activity(stack, user)
    token = messages[-1]["question"]
    assert token, "the message that asks carries its question's token"
    assert "outdoors" in messages[-1]["text"]
    assert all(m["question"] is None for m in messages[:-1])
    assert all(token not in m["text"] for m in messages)
    again = stack.say(BRAND, user, text="hiking")
    assert again[-1]["question"], "a new question, a new token"
    assert again[-1]["question"] != token, "a new question, a new token"


def test_a_message_sent_twice_with_its_id_is_answered_and_stored_once(stack: Stack) -> None:
    user = f"e2e-{next_id()}"
    at_activity(stack, user)
    body = {"user_id": user, "text": "hiking", "message_id": f"m-{next_id()}"}
    first = stack.http.post(CHAT, json=body)
    again = stack.http.post(CHAT, json=body)
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert steps(stack, "api", user) == ["activity"]


def test_a_message_sent_twice_without_an_id_is_not_filed_under_the_next_question(
    stack: Stack,
) -> None:
    user = f"e2e-{next_id()}"
    token = at_activity(stack, user)[-1]["question"]
    assert token
    for _ in range(2):  # a client that resends without an id, answering what it saw
        body = {"user_id": user, "text": "hiking", "reply_to": token}
        assert stack.http.post(CHAT, json=body).status_code == 200
    assert "need" not in steps(stack, "api", user), "stored under a question never seen"


def test_two_quick_messages_are_not_filed_under_the_unseen_question(stack: Stack) -> None:
    user = f"e2e-{next_id()}"
    token = at_activity(stack, user)[-1]["question"]
    assert token
    for text in ("hiking", "and a tent"):  # the second was typed before "shopping for?" came
        body = {"user_id": user, "text": text, "reply_to": token}
        assert stack.http.post(CHAT, json=body).status_code == 200
    assert "need" not in steps(stack, "api", user)


@contextmanager
def delivery_held(stack: Stack) -> Iterator[tuple[threading.Event, threading.Event]]:
    """The gateway gets the engine's answer to the next message but holds it before delivering
    it, until the test sets `release`: the customer has not seen the next question yet.
    `answered` is set once the engine has answered that message."""
    engine = gateway_of(stack.app).engine
    original, release = engine.send, threading.Event()
    first = threading.Event()

    async def held(**kwargs: Any) -> Any:
        replies = await original(**kwargs)
        if not first.is_set():
            first.set()
            await asyncio.to_thread(release.wait, 60)
        return replies

    engine.send = held  # type: ignore[method-assign]
    try:
        yield first, release
    finally:
        release.set()
        engine.send = original  # type: ignore[method-assign]


def test_telegram_two_quick_messages_are_not_filed_under_the_unseen_question(
    stack: Stack, standins: StandIns, channel_credentials: Credentials
) -> None:
    http, secret, user = stack.http, channel_credentials.telegram_secret, next_id()

    def post(update: dict[str, Any]) -> None:
        assert tg_post(http, BRAND, update, secret).status_code == 200

    post(tg_message(user, "/start"))
    hello = standins.telegram.sent("sendMessage", lambda c: int(c.body["chat_id"]) == user)
    yes = hello[-1].body["reply_markup"]["inline_keyboard"][0][0]
    asked = bot_message_from(hello[-1].body, message_id=hello[-1].result["message_id"])
    post(tg_callback(user, yes["callback_data"], bot_message=asked))
    with delivery_held(stack) as (answered, release):
        done: list[int] = []
        hiking = threading.Thread(
            target=lambda: done.append(
                tg_post(http, BRAND, tg_message(user, "hiking"), secret).status_code
            )
        )
        hiking.start()
        wait_until(answered.is_set, "the engine's answer to 'hiking'")
        post(tg_message(user, "and a tent"))  # sent before "shopping for?" reached the chat
        release.set()
        hiking.join(60)
    assert done == [200]
    assert "need" not in steps(stack, "telegram", str(user))
