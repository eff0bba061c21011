"""Slack end to end: signed events and interactions as Slack sends them; replies at the stand-in."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.channels.conftest import BRAND, Stored, delivery_marks, stored, wait_idle
from tests.channels.factories import (
    Credentials,
    next_id,
    slack_block_action,
    slack_dm,
    slack_headers,
    slack_mention,
    slack_post_action,
    slack_post_event,
)
from tests.channels.standins import SLACK_BOT_USER, SLACK_TEAM, Call, StandIns
from tests.stack import Stack

pytestmark = pytest.mark.engine


def text_of(body: dict[str, Any]) -> str:
    return " ".join(b["text"]["text"] for b in body.get("blocks", []) if b["type"] == "section")


def buttons_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in body.get("blocks", []) if b["type"] == "actions" for e in b["elements"]]


class SlackUser:
    """One customer in a direct message with the brand's Slack app."""

    def __init__(
        self, stack: Stack, standins: StandIns, creds: Credentials, brand: str = BRAND
    ) -> None:
        n = next_id()
        self.user, self.channel = f"U{n:09d}", f"D{n:09d}"
        self.stack, self.api, self.secret = stack, standins.slack, creds.slack_signing_secret
        self.brand = brand

    @property
    def user_id(self) -> str:
        return f"{SLACK_TEAM}:{self.user}"

    def to_me(self, call: Call) -> bool:
        return call.body.get("channel") == self.channel

    def replies(self) -> list[dict[str, Any]]:
        return [c.body for c in self.api.sent("chat.postMessage", self.to_me)]

    def deliver(self, event: dict[str, Any], **sign: Any) -> list[dict[str, Any]]:
        before = len(self.replies())
        response = slack_post_event(self.stack.http, self.brand, event, self.secret, **sign)
        assert response.status_code == 200, response.text
        wait_idle(self.stack)
        return self.replies()[before:]

    def say(self, text: str) -> list[dict[str, Any]]:
        return self.deliver(slack_dm(self.user, self.channel, text))

    def press(self, reply: dict[str, Any], title: str) -> list[dict[str, Any]]:
        button = next(b for b in buttons_of(reply) if b["text"]["text"] == title)
        action = slack_block_action(
            self.user,
            self.channel,
            action_id=button["action_id"],
            value=button["value"],
            title=title,
        )
        before = len(self.replies())
        response = slack_post_action(self.stack.http, self.brand, action, self.secret)
        assert response.status_code == 200, response.text
        wait_idle(self.stack)
        return self.replies()[before:]


@pytest.fixture
def user(stack: Stack, standins: StandIns, channel_credentials: Credentials) -> SlackUser:
    return SlackUser(stack, standins, channel_credentials)


def test_direct_messages_and_block_kit_buttons(user: SlackUser) -> None:
    hello = user.say("hello")
    assert "a bot" in text_of(hello[0])
    buttons = buttons_of(hello[-1])
    assert [(b["text"]["text"], b["value"]) for b in buttons] == [
        ("Yes", "/affirm"),
        ("No", "/deny"),
        ("More", '/choose{"choice": "__more__"}'),
    ]
    assert all(b["type"] == "button" for b in buttons)

    activity = user.press(hello[-1], "Yes")
    assert [b["text"]["text"] for b in buttons_of(activity[-1])][:2] == ["hiking", "running"]
    user.press(activity[-1], "hiking")
    user.say("trail shoes &amp; a &lt;big&gt; tent")  # Slack escapes &, < and >
    answers = stored(user.stack, "slack", user.user_id).answers
    assert [(step, verbatim) for step, verbatim, _ in answers] == [
        ("activity", "hiking"),
        ("need", "trail shoes & a <big> tent"),
    ]
    consents = stored(user.stack, "slack", user.user_id).consents
    assert ("needs", "given", "button") in consents


def test_replies_go_through_chat_post_message_as_plain_text(
    user: SlackUser, channel_credentials: Credentials
) -> None:
    hello = user.say("<!channel> hi")
    call = user.api.sent("chat.postMessage", user.to_me)[0]
    # The brand's own bot token (another brand's app talks to the same stand-in).
    assert call.token == channel_credentials.slack_token
    assert all(b["text"]["type"] == "plain_text" for b in hello[0]["blocks"] if "text" in b)


def test_app_mention_in_a_channel_is_answered_there(user: SlackUser) -> None:
    user.channel = f"C{next_id():09d}"
    replies = user.deliver(slack_mention(user.user, user.channel, ""))
    assert "a bot" in text_of(replies[0])
    assert buttons_of(replies[-1])


def test_slack_retries_never_produce_a_second_reply(user: SlackUser) -> None:
    user.say("hello")
    user.say("yes")
    event = slack_dm(user.user, user.channel, "hiking")
    first = user.deliver(event)
    assert first
    replies = len(user.replies())
    for retry in (1, 2, 3):
        response = slack_post_event(user.stack.http, BRAND, event, user.secret, retry=retry)
        assert response.status_code == 200
        assert response.headers.get("x-candor-dedup") == "duplicate"
    wait_idle(user.stack)
    assert len(user.replies()) == replies
    answers = stored(user.stack, "slack", user.user_id).answers
    assert [step for step, _, _ in answers] == ["activity"]


def test_bad_signatures_and_stale_timestamps_are_401_and_change_nothing(user: SlackUser) -> None:
    marks, auth_calls = delivery_marks(user.stack), len(user.api.sent("auth.test"))
    event = slack_dm(user.user, user.channel, "hello")
    body = json.dumps(event).encode()
    forged = slack_headers("not-the-signing-secret", body)
    stale = slack_headers(user.secret, body, timestamp=int(time.time()) - 6 * 60)
    future = slack_headers(user.secret, body, timestamp=int(time.time()) + 6 * 60)
    tampered = slack_headers(user.secret, body)
    for headers, content in (
        (forged, body),
        (stale, body),
        (future, body),
        (tampered, body.replace(b"hello", b"HELLO")),
        ({}, body),
        ({"X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=00"}, body),
    ):
        response = user.stack.http.post(
            f"/channels/slack/{BRAND}/events",
            content=content,
            headers={"content-type": "application/json", **headers},
        )
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "invalid_signature"
    action = slack_block_action(
        user.user, user.channel, action_id="candor:0", value="/affirm", title="Yes"
    )
    forged_action = slack_post_action(user.stack.http, BRAND, action, "wrong-secret")
    assert forged_action.status_code == 401
    wait_idle(user.stack)
    assert user.replies() == []
    assert delivery_marks(user.stack) == marks
    assert len(user.api.sent("auth.test")) == auth_calls
    assert stored(user.stack, "slack", user.user_id) == Stored([], [])


def test_own_messages_url_verification_and_unknown_brands(user: SlackUser) -> None:
    own = slack_dm(SLACK_BOT_USER, user.channel, "I am the bot")
    own["event"]["bot_id"] = "BBOTCANDOR"
    assert user.deliver(own) == []
    challenge = {"token": "legacy", "challenge": "c-123", "type": "url_verification"}
    response = slack_post_event(user.stack.http, BRAND, challenge, user.secret)
    assert response.status_code == 200
    assert "c-123" in response.text
    missing = slack_post_event(user.stack.http, "no-such-brand", challenge, user.secret)
    assert missing.status_code == 404
    assert missing.json()["error"] == "channel_not_configured"


def test_block_actions_are_acknowledged_before_the_engine_answers(user: SlackUser) -> None:
    """Slack wants an ack within 3 s: the ack must not wait for the engine at all.

    The engine call is held until the test releases it; if the route waited for it, the POST
    below would hang until the client's timeout instead of returning 200 at once.
    """
    import asyncio
    import threading

    from bot.gateway.state import gateway_of

    hello = user.say("hello")
    engine = gateway_of(user.stack.app).engine
    original = engine.send
    release = threading.Event()

    async def held(**kwargs: Any) -> Any:
        await asyncio.to_thread(release.wait, 20)
        return await original(**kwargs)

    engine.send = held  # type: ignore[method-assign]
    try:
        button = next(b for b in buttons_of(hello[-1]) if b["text"]["text"] == "Yes")
        action = slack_block_action(
            user.user,
            user.channel,
            action_id=button["action_id"],
            value=button["value"],
            title="Yes",
        )
        before = len(user.replies())
        with httpx.Client(base_url=user.stack.http.base_url, timeout=5) as quick:
            response = slack_post_action(quick, BRAND, action, user.secret)
        assert response.status_code == 200
        assert len(user.replies()) == before, "nothing was answered while the engine was held"
    finally:
        release.set()
        engine.send = original  # type: ignore[method-assign]
    wait_idle(user.stack)
    assert len(user.replies()) > before
