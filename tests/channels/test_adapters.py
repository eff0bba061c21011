"""The adapters alone: platform payloads in, InboundMessages out; OutboundMessages rendered."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from telegram import Bot, Update

from bot.channels import slack, telegram
from bot.channels.buttons import ButtonCodec
from consent_flows.contract import Button, InboundMessage, OutboundMessage
from storage.stores import Stores
from tests.channels.factories import (
    bot_message_from,
    slack_block_action,
    slack_dm,
    slack_mention,
    tg_callback,
    tg_message,
    tg_sticker,
)
from tests.channels.standins import SLACK_BOT_USER, SLACK_TEAM


@pytest.fixture
def codec(tmp_path: Path) -> Iterator[ButtonCodec]:
    stores = Stores(tmp_path / "data")
    yield ButtonCodec(stores)
    stores.dispose()


def tg(update: dict, codec: ButtonCodec) -> InboundMessage | None:
    bot = Bot("123:fake")
    return asyncio.run(telegram.to_inbound("acme", Update.de_json(update, bot), codec))


def tg_one(update: dict, codec: ButtonCodec) -> InboundMessage:
    inbound = tg(update, codec)
    assert inbound is not None
    return inbound


def slack_one(
    inbound: tuple[InboundMessage, slack.Where] | None,
) -> tuple[InboundMessage, slack.Where]:
    assert inbound is not None
    return inbound


def test_telegram_start_text_and_presses(codec: ButtonCodec) -> None:
    assert tg(tg_message(42, "/start"), codec) == InboundMessage(
        brand="acme", channel="telegram", user_id="42", payload="/greet", language="en"
    )
    assert tg_one(tg_message(42, "/start@candor_test_bot ref"), codec).payload == "/greet"
    typed = tg_one(tg_message(42, "/affirm"), codec)
    assert typed.text == "/affirm", "typed text stays text"
    assert typed.payload is None, "typed text stays text"
    sent = {"chat_id": 42, "text": "Okay?"}
    pressed = tg_one(tg_callback(42, "/affirm", bot_message=bot_message_from(sent)), codec)
    assert pressed.payload == "/affirm"
    assert pressed.user_id == "42"
    sticker = tg(tg_sticker(42), codec)
    assert sticker is not None
    assert not sticker.text


def test_telegram_keyboard_is_inline_with_short_data(codec: ButtonCodec) -> None:
    long_choice = "a choice whose payload is far longer than sixty-four bytes"
    message = OutboundMessage(
        text="Pick",
        buttons=(
            Button(title="Yes", payload="/affirm"),
            Button(title="No", payload="/deny"),
            Button(title=long_choice, payload=f'/choose{{"choice": "{long_choice}"}}'),
        ),
    )
    markup = asyncio.run(telegram.keyboard(message, codec))
    assert markup is not None
    rows = [[key.text for key in row] for row in markup.inline_keyboard]
    assert rows == [["Yes", "No"], [long_choice]]
    data: list[str] = []
    for key in (key for row in markup.inline_keyboard for key in row):
        assert isinstance(key.callback_data, str)
        data.append(key.callback_data)
    assert data[:2] == ["/affirm", "/deny"]
    assert all(len(d.encode()) <= 64 for d in data)
    assert asyncio.run(codec.decode(data[2])) == message.buttons[2].payload


def test_telegram_keyboard_puts_scale_points_six_to_a_row(codec: ButtonCodec) -> None:
    from consent_flows.answers import choice_buttons
    from consent_flows.model import AskSpec

    nps = AskSpec.model_validate({"id": "q", "purpose": "p", "text": "Recommend?", "type": "nps"})
    message = OutboundMessage(text="Recommend us?", buttons=choice_buttons(nps, []))
    markup = asyncio.run(telegram.keyboard(message, codec))
    assert markup is not None
    rows = [[key.text for key in row] for row in markup.inline_keyboard]
    assert rows == [
        ["0 · Not at all likely"],
        ["1", "2", "3", "4", "5", "6"],
        ["7", "8", "9"],
        ["10 · Extremely likely"],
    ]


def test_slack_direct_messages_and_mentions() -> None:
    inbound, where = slack_one(
        slack.event_to_inbound("acme", slack_dm("U1", "D1", "a &lt;b&gt; &amp; c"))
    )
    assert inbound == InboundMessage(
        brand="acme", channel="slack", user_id=f"{SLACK_TEAM}:U1", text="a <b> & c"
    )
    assert where == slack.Where("D1")
    mention, where = slack_one(
        slack.event_to_inbound("acme", slack_mention("U1", "C1", "boots please"))
    )
    assert mention.text == "boots please"
    assert where.channel == "C1"
    bare, _ = slack_one(slack.event_to_inbound("acme", slack_mention("U1", "C1", "")))
    assert bare.payload == "/greet"


@pytest.mark.parametrize(
    "change",
    [
        {"subtype": "message_changed"},
        {"bot_id": "B1"},
        {"channel_type": "channel"},
        {"user": None},
        {"type": "reaction_added"},
    ],
)
def test_slack_events_that_are_not_a_customer_message(change: dict) -> None:
    event = slack_dm("U1", "D1", "hi")
    event["event"].update(change)
    assert slack.event_to_inbound("acme", event) is None


def test_slack_button_presses_and_delivery_ids() -> None:
    action = slack_block_action("U1", "D1", action_id="candor:0", value="/affirm", title="Yes")
    inbound, where = slack_one(slack.action_to_inbound("acme", action))
    assert inbound.payload == "/affirm"
    assert where.channel == "D1"
    assert slack.delivery_id(action) == f"action:{action['trigger_id']}"
    event = slack_dm("U1", "D1", "hi", event_id="Ev42")
    assert slack.delivery_id(event) == "event:Ev42"
    assert slack.delivery_id({"type": "url_verification"}) is None
    foreign = slack_block_action("U1", "D1", action_id="other", value="/x", title="X")
    assert slack.action_to_inbound("acme", foreign) is None


def test_slack_blocks_are_plain_text_and_fallback_cannot_ping() -> None:
    message = OutboundMessage(
        text="Got it: <!channel> & <@U1>", buttons=(Button(title="Yes", payload="/affirm"),)
    )
    blocks = slack.blocks(message)
    assert blocks[0] == {
        "type": "section",
        "text": {"type": "plain_text", "text": "Got it: <!channel> & <@U1>"},
    }
    assert blocks[1]["elements"][0]["value"] == "/affirm"
    assert slack._fallback(message.text) == "Got it: &lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert SLACK_BOT_USER not in str(blocks)


@pytest.mark.parametrize(
    ("code", "language"), [("pt-br", "pt"), ("DE", "de"), (None, None), ("x", None), ("١٢", None)]
)
def test_telegram_language_is_two_letters_or_nothing(
    codec: ButtonCodec, code: str | None, language: str | None
) -> None:
    """Telegram's `language_code` is an IETF tag or absent: updates need two letters, and a
    malformed tag must not turn the customer's message into an error."""
    update = tg_message(42, "hello")
    update["message"]["from"]["language_code"] = code
    assert tg_one(update, codec).language == language
