"""Telegram end to end: updates posted as Telegram posts them, replies read from the stand-in."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli.app import app as cli
from tests.channels.conftest import BRAND, Stored, delivery_marks, stored
from tests.channels.factories import (
    Credentials,
    bot_message_from,
    next_id,
    tg_callback,
    tg_message,
    tg_post,
    tg_sticker,
)
from tests.channels.standins import Call, StandIns
from tests.stack import Stack

pytestmark = pytest.mark.engine


class TelegramUser:
    """One customer in a private chat with the brand's bot."""

    def __init__(
        self, stack: Stack, standins: StandIns, creds: Credentials, brand: str = BRAND
    ) -> None:
        self.id = next_id()
        self.stack, self.api, self.secret = stack, standins.telegram, creds.telegram_secret
        self.brand = brand

    @property
    def user_id(self) -> str:
        return str(self.id)

    def to_me(self, call: Call) -> bool:
        return int(call.body.get("chat_id", 0)) == self.id

    def replies(self) -> list[dict[str, Any]]:
        return [c.body for c in self.api.sent("sendMessage", self.to_me)]

    def post(self, update: dict[str, Any]) -> list[dict[str, Any]]:
        before = len(self.replies())
        response = tg_post(self.stack.http, self.brand, update, self.secret)
        assert response.status_code == 200, response.text
        return self.replies()[before:]

    def say(self, text: str) -> list[dict[str, Any]]:
        return self.post(tg_message(self.id, text))

    def press(self, reply: dict[str, Any], title: str) -> list[dict[str, Any]]:
        keys = [k for row in reply["reply_markup"]["inline_keyboard"] for k in row]
        key = next(k for k in keys if k["text"] == title)
        return self.post(
            tg_callback(self.id, key["callback_data"], bot_message=bot_message_from(reply))
        )


@pytest.fixture
def user(stack: Stack, standins: StandIns, channel_credentials: Credentials) -> TelegramUser:
    return TelegramUser(stack, standins, channel_credentials)


def test_start_buttons_and_free_text_reach_the_store(user: TelegramUser) -> None:
    hello = user.say("/start")
    assert "a bot" in hello[0]["text"]
    keyboard = hello[-1]["reply_markup"]["inline_keyboard"]
    assert [[k["text"] for k in row] for row in keyboard] == [["Yes", "No"], ["More"]]
    assert [k["callback_data"] for row in keyboard for k in row] == [
        "/affirm",
        "/deny",
        '/choose{"choice": "__more__"}',
    ]

    activity = user.press(hello[-1], "Yes")
    assert "outdoors" in activity[-1]["text"]
    answered = user.api.sent("answerCallbackQuery")
    assert answered, "every button press is answered with answerCallbackQuery"

    need = user.press(activity[-1], "hiking")
    assert "shopping for" in need[-1]["text"]
    user.say("/stop-start deliveries? boots")
    answers = stored(user.stack, "telegram", str(user.id)).answers
    assert [(step, verbatim) for step, verbatim, _ in answers] == [
        ("activity", "hiking"),
        ("need", "stop-start deliveries? boots"),
    ]


def test_every_button_press_is_answered(user: TelegramUser) -> None:
    hello = user.say("/start")
    before = len(user.api.sent("answerCallbackQuery"))
    user.press(hello[-1], "Yes")
    calls = user.api.sent("answerCallbackQuery")
    assert len(calls) == before + 1
    assert calls[-1].body["callback_query_id"]


def test_typed_slash_text_is_never_a_button(user: TelegramUser) -> None:
    user.say("/start")
    user.say("/affirm")  # typed, so it is words ("affirm"), not the Yes button's payload
    user.say("/yes")  # words again: NLU reads "yes"
    consents = stored(user.stack, "telegram", str(user.id)).consents
    assert ("needs", "given", "text") in consents
    assert not [c for c in consents if c[2] == "button"]


def test_repeated_update_id_is_handled_once(user: TelegramUser) -> None:
    user.say("/start")
    update = tg_message(user.id, "yes")
    first = tg_post(user.stack.http, BRAND, update, user.secret)
    replies = len(user.replies())
    again = tg_post(user.stack.http, BRAND, update, user.secret)
    assert first.status_code == again.status_code == 200
    assert again.json() == {"ok": True, "duplicate": True}
    assert len(user.replies()) == replies
    consents = stored(user.stack, "telegram", str(user.id)).consents
    assert consents.count(("needs", "given", "text")) == 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret-token-0000000000"])
def test_wrong_secret_token_is_refused_and_nothing_happens(
    user: TelegramUser, secret: str | None
) -> None:
    marks = delivery_marks(user.stack)
    response = tg_post(user.stack.http, BRAND, tg_message(user.id, "/start"), secret)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert user.replies() == []
    assert delivery_marks(user.stack) == marks
    assert stored(user.stack, "telegram", str(user.id)) == Stored([], [])


def test_unknown_brand_and_broken_updates_get_clear_4xx(user: TelegramUser) -> None:
    response = tg_post(user.stack.http, "no-such-brand", tg_message(user.id, "hi"), user.secret)
    assert response.status_code == 404
    assert response.json()["error"] == "channel_not_configured"
    broken = user.stack.http.post(
        f"/channels/telegram/{BRAND}",
        content=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": user.secret},
    )
    assert broken.status_code == 422
    assert "Traceback" not in broken.text
    huge = tg_message(user.id, "x" * 20_000)
    too_big = tg_post(user.stack.http, BRAND, huge, user.secret)
    assert too_big.status_code == 422
    assert "larger than" in too_big.json()["detail"]


def test_non_text_message_gets_a_hint_and_stale_button_an_answer(user: TelegramUser) -> None:
    user.say("/start")
    sticker = user.post(tg_sticker(user.id))
    assert "only read text" in sticker[-1]["text"]
    stale = {"chat_id": user.id, "text": "old", "reply_markup": None}
    replies = user.post(tg_callback(user.id, "#doesnotexist", bot_message=bot_message_from(stale)))
    assert "no longer works" in replies[-1]["text"]


def test_set_webhook_command_registers_url_with_secret(
    standins: StandIns, channel_credentials: Credentials
) -> None:
    channels = {BRAND: channel_credentials.settings(standins)}
    result = CliRunner().invoke(
        cli,
        ["telegram", "set-webhook", BRAND, "https://candor.example.org"],
        env={"CANDOR_CHANNELS": json.dumps(channels)},
    )
    assert result.exit_code == 0, result.output
    call = standins.telegram.sent("setWebhook")[-1]
    assert call.body["url"] == f"https://candor.example.org/channels/telegram/{BRAND}"
    assert call.body["secret_token"] == channel_credentials.telegram_secret
    assert call.body["allowed_updates"] == ["message", "callback_query"]
    assert channel_credentials.telegram_token not in result.output
