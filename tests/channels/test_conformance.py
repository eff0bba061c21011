"""One customer journey on the web widget, Slack and Telegram: the same store, the same replies.

Each channel gets a driver that speaks its platform (socket frames, signed Slack events and
interactions, Telegram updates) and reads replies where the platform would show them. The
journey presses buttons where a customer would and types everything else.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import pytest

from tests.channels.conftest import Stored, stored
from tests.channels.factories import Credentials
from tests.channels.standins import StandIns
from tests.channels.test_slack import SlackUser, buttons_of, text_of
from tests.channels.test_telegram import TelegramUser
from tests.channels.test_web import widget
from tests.stack import Stack

pytestmark = pytest.mark.engine

Turn = list[tuple[str, tuple[str, ...]]]  # each reply: its text and its button titles


class Customer(Protocol):
    channel: str

    def start(self) -> Turn: ...
    def press(self, title: str) -> Turn: ...
    def type(self, text: str) -> Turn: ...
    def user_id(self) -> str: ...


class WebCustomer:
    channel = "web"

    def __init__(self, stack: Stack) -> None:
        self._stack = stack

    @contextmanager
    def session(self) -> Iterator[WebCustomer]:
        with widget(self._stack) as web:
            self._web = web
            self._last: list[dict[str, Any]] = []
            yield self

    def _turn(self, messages: list[dict[str, Any]]) -> Turn:
        self._last = messages
        return [(m["text"], tuple(b["title"] for b in m["buttons"])) for m in messages]

    def start(self) -> Turn:
        return self._turn(self._web.press("/greet"))

    def press(self, title: str) -> Turn:
        button = next(b for b in self._last[-1]["buttons"] if b["title"] == title)
        return self._turn(self._web.press(button["payload"]))

    def type(self, text: str) -> Turn:
        return self._turn(self._web.say(text))

    def user_id(self) -> str:
        return self._web.user_id


class PlatformCustomer:
    """A customer on a platform whose replies arrive at a stand-in (Slack, Telegram)."""

    channel = ""
    greeting = ""

    def __init__(self, user: SlackUser | TelegramUser) -> None:
        self._user = user
        self._last: list[dict[str, Any]] = []

    def render(self, reply: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        raise NotImplementedError

    def _turn(self, replies: list[dict[str, Any]]) -> Turn:
        self._last = replies
        return [self.render(r) for r in replies]

    def start(self) -> Turn:
        return self._turn(self._user.say(self.greeting))

    def press(self, title: str) -> Turn:
        return self._turn(self._user.press(self._last[-1], title))

    def type(self, text: str) -> Turn:
        return self._turn(self._user.say(text))

    def user_id(self) -> str:
        return self._user.user_id


class SlackCustomer(PlatformCustomer):
    channel, greeting = "slack", "hi"

    def render(self, reply: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        return text_of(reply), tuple(b["text"]["text"] for b in buttons_of(reply))


class TelegramCustomer(PlatformCustomer):
    channel, greeting = "telegram", "/start"

    def render(self, reply: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
        rows = (reply.get("reply_markup") or {}).get("inline_keyboard", [])
        return reply["text"], tuple(key["text"] for row in rows for key in row)


def journey(customer: Customer) -> list[Turn]:
    """Greet, consent by button, a choice by button, free text, consent typed, free text."""
    return [
        customer.start(),
        customer.press("Yes"),
        customer.press("hiking"),
        customer.type("no idea, maybe boots?"),
        customer.type("yes"),
        customer.type("stop-start deliveries annoy me"),
    ]


def test_the_same_journey_gives_the_same_result_on_every_channel(
    stack: Stack, standins: StandIns, channel_credentials: Credentials
) -> None:
    transcripts: dict[str, list[Turn]] = {}
    results: dict[str, Stored] = {}
    web = WebCustomer(stack)
    with web.session():
        transcripts["web"] = journey(web)
        results["web"] = stored(stack, "web", web.user_id())
    for customer in (
        SlackCustomer(SlackUser(stack, standins, channel_credentials)),
        TelegramCustomer(TelegramUser(stack, standins, channel_credentials)),
    ):
        transcripts[customer.channel] = journey(customer)
        results[customer.channel] = stored(stack, customer.channel, customer.user_id())

    expected = results["web"]
    assert [(step, verbatim) for step, verbatim, _ in expected.answers] == [
        ("activity", "hiking"),
        ("need", "no idea, maybe boots?"),
        ("frustration", "stop-start deliveries annoy me"),
    ]
    assert ("needs", "given", "button") in expected.consents
    assert ("frustrations", "given", "text") in expected.consents
    assert results["slack"] == expected
    assert results["telegram"] == expected
    assert transcripts["slack"] == transcripts["web"]
    assert transcripts["telegram"] == transcripts["web"]
