"""Secrets and customers' words never reach the gateway's logs, even at DEBUG."""

from __future__ import annotations

import logging

import pytest

from tests.channels.factories import Credentials
from tests.channels.standins import StandIns
from tests.channels.test_slack import SlackUser
from tests.channels.test_telegram import TelegramUser
from tests.stack import Stack

pytestmark = pytest.mark.engine
WORDS = "my-unmistakable-answer-7c1e"


def test_a_debug_log_holds_no_token_secret_or_answer(
    stack: Stack,
    standins: StandIns,
    channel_credentials: Credentials,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    telegram = TelegramUser(stack, standins, channel_credentials)
    telegram.say("/start")
    telegram.say("yes")
    telegram.say(WORDS)
    slack = SlackUser(stack, standins, channel_credentials)
    slack.say("hi")
    slack.say("yes")
    slack.say(WORDS)
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert caplog.records, "the gateway logged something"
    for secret in (
        channel_credentials.telegram_token,
        channel_credentials.telegram_secret,
        channel_credentials.slack_token,
        channel_credentials.slack_signing_secret,
        WORDS,
    ):
        assert secret not in logged
