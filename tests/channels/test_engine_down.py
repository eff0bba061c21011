"""Channels while the engine is restarting, and the widget's origin check (no engine needed).

The gateway runs in-process (TestClient) with its engine URL pointing at a closed port.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from bot.brands import publish_flow_file
from bot.gateway.app import create_app
from bot.settings import ROOT
from storage.stores import Stores
from tests.channels.factories import (
    Credentials,
    next_id,
    slack_dm,
    slack_post_event,
    tg_message,
    tg_post,
)
from tests.channels.standins import StandIns
from tests.stack import make_settings

BRAND = "basics-store"
SITE = "https://shop.example"


@pytest.fixture
def client(tmp_path: Path, standins: StandIns) -> Iterator[tuple[TestClient, Credentials]]:
    creds = Credentials.random()
    entry = creds.settings(standins) | {"widget": {"allowed_origins": [SITE]}}
    settings = make_settings(tmp_path, channels={BRAND: entry})
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, ROOT / "consent_flows" / "examples" / "basics-store.yaml")
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield c, creds
    stores.dispose()


def test_telegram_gets_503_and_its_redelivery_is_handled_later(
    client: tuple[TestClient, Credentials],
) -> None:
    http, creds = client
    update = tg_message(next_id(), "/start")
    for _ in range(2):  # the redelivery is not mistaken for a duplicate
        response = tg_post(http, BRAND, update, creds.telegram_secret)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["error"] == "engine_unavailable"


def test_slack_customer_is_told_to_resend(
    client: tuple[TestClient, Credentials], standins: StandIns
) -> None:
    http, creds = client
    channel = f"D{next_id():09d}"
    response = slack_post_event(
        http, BRAND, slack_dm("U1", channel, "hi"), creds.slack_signing_secret
    )
    assert response.status_code == 200
    [call] = standins.slack.wait_for("chat.postMessage", 1, lambda c: c.body["channel"] == channel)
    assert "restarting" in call.body["blocks"][0]["text"]["text"]


def test_widget_keeps_the_message_for_a_retry(client: tuple[TestClient, Credentials]) -> None:
    http, _ = client
    with http.websocket_connect(f"/ws/chat/{BRAND}", headers={"origin": SITE}) as socket:
        socket.send_text(json.dumps({"type": "hello", "user_id": "browser-123456"}))
        assert socket.receive_json() == {"type": "ready"}
        for _ in range(2):  # the same id again: not a duplicate, since nothing was processed
            socket.send_text(json.dumps({"type": "message", "id": "m1", "text": "hi"}))
            answer = socket.receive_json()
            assert answer["error"] == "engine_unavailable"
            assert answer["retry"] is True


def test_widget_socket_refuses_other_origins(client: tuple[TestClient, Credentials]) -> None:
    http, _ = client
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        http.websocket_connect(f"/ws/chat/{BRAND}", headers={"origin": "https://evil.example"}),
    ):
        pass
    assert refused.value.code == 4403


def test_jobs_finish_before_the_gateway_stops(tmp_path: Path, standins: StandIns) -> None:
    creds = Credentials.random()
    settings = make_settings(tmp_path, channels={BRAND: creds.settings(standins)})
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, ROOT / "consent_flows" / "examples" / "basics-store.yaml")
    channel = f"D{next_id():09d}"
    try:
        with TestClient(create_app(settings, stores=stores)) as http:
            event = slack_dm("U2", channel, "hi")
            slack_post_event(http, BRAND, event, creds.slack_signing_secret)
        # Leaving the block ran the shutdown, which waited for the reply job.
        assert standins.slack.sent("chat.postMessage", lambda c: c.body["channel"] == channel)
    finally:
        stores.dispose()
