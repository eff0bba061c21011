"""The chat API is a channel like the others: one message check, one limit, one engine call.

The real gateway runs in process in front of the stand-in engine (tests/channels/standins.py),
which records exactly what reached it, so each test sees whether a message was refused before
the engine or how it arrived there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.brands import publish_flow_file
from bot.gateway.app import create_app
from storage.stores import Stores
from tests.channels.conftest import BASICS_FLOW, BRAND, CREDS, Gateway, gateway_settings
from tests.channels.factories import next_id, tg_message
from tests.channels.standins import EngineStandIn, StandIns

CHAT = f"/api/v1/chat/{BRAND}"
Limited = Callable[[int], Gateway]


@pytest.fixture
def limited(
    tmp_path: Path, engine: EngineStandIn, standins: StandIns, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Limited]:
    """Starts a gateway with `CANDOR_MAX_MESSAGE_CHARS` set, as an operator would set it."""
    with ExitStack() as started:

        def start(max_chars: int) -> Gateway:
            monkeypatch.setenv("CANDOR_MAX_MESSAGE_CHARS", str(max_chars))
            settings = gateway_settings(tmp_path / str(max_chars), engine, standins)
            stores = Stores(settings.data_dir)
            started.callback(stores.dispose)
            publish_flow_file(stores, BASICS_FLOW)
            app = create_app(settings, stores=stores)
            http = started.enter_context(TestClient(app))
            return Gateway(http, app, settings, stores, engine, CREDS)

        yield start


def test_the_chat_api_refuses_text_over_candor_max_message_chars(limited: Limited) -> None:
    gateway = limited(50)
    assert gateway.settings.max_message_chars == 50
    response = gateway.http.post(CHAT, json={"user_id": "u-long", "text": "x" * 51})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["detail"].startswith("text: ")
    assert "longer than 50 characters" in body["detail"]
    assert gateway.engine.turns == 0, "a refused message never reaches the engine"
    at_limit = gateway.http.post(CHAT, json={"user_id": "u-long", "text": "x" * 50})
    assert at_limit.status_code == 200, at_limit.text
    assert gateway.engine.turns == 1


def test_the_chat_api_takes_text_up_to_a_raised_limit(limited: Limited) -> None:
    gateway = limited(3000)
    text = "a long answer " * 178  # 2,492 characters: over the old fixed 2,000
    response = gateway.http.post(CHAT, json={"user_id": "u-raised", "text": text})
    assert response.status_code == 200, response.text
    assert gateway.engine.turns_sent()[0]["message"] == text.strip()


def test_every_channel_refuses_the_same_text_with_the_same_limit(
    limited: Limited, standins: StandIns
) -> None:
    gateway = limited(50)
    user, secret = next_id(), gateway.creds.telegram_secret
    update = tg_message(user, "y" * 51)
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    posted = gateway.http.post(f"/channels/telegram/{BRAND}", json=update, headers=headers)
    assert posted.status_code == 200, posted.text
    sent = standins.telegram.wait_for(
        "sendMessage", 1, lambda call: int(call.body["chat_id"]) == user
    )
    assert "longer than 50 characters" in sent[0].body["text"]
    api = gateway.http.post(CHAT, json={"user_id": "u-same", "text": "y" * 51})
    assert api.status_code == 422
    assert "longer than 50 characters" in api.json()["detail"]
    assert gateway.engine.turns == 0


def test_typed_text_never_acts_as_a_command_on_the_api(gateway: Gateway) -> None:
    response = gateway.http.post(CHAT, json={"user_id": "u-slash", "text": "/affirm\x00 please"})
    assert response.status_code == 200, response.text
    assert gateway.engine.turns_sent()[0]["message"] == "affirm  please"


def test_a_payload_that_is_no_button_is_refused_naming_the_field(gateway: Gateway) -> None:
    for payload in ("/greet; drop", "affirm", "/" + "a" * 600):
        response = gateway.http.post(CHAT, json={"user_id": "u-pay", "payload": payload})
        assert response.status_code == 422, (payload, response.text)
        assert response.json()["detail"].startswith("payload: ")
    assert gateway.engine.turns == 0
    pressed = gateway.http.post(
        CHAT, json={"user_id": "u-pay", "payload": '/choose{"choice": "a"}'}
    )
    assert pressed.status_code == 200
    assert gateway.engine.turns_sent()[0]["message"] == '/choose{"choice": "a"}'


def test_a_refused_message_leaves_its_message_id_free(gateway: Gateway) -> None:
    body = {"user_id": "u-fix", "text": "   ", "message_id": "m-fix"}
    refused = gateway.http.post(CHAT, json=body)
    assert refused.status_code == 422
    assert "empty" in refused.json()["detail"]
    fixed = gateway.http.post(CHAT, json=body | {"text": "a tent"})
    assert fixed.status_code == 200, fixed.text
    assert "idempotent-replayed" not in fixed.headers
    assert gateway.engine.turns == 1
