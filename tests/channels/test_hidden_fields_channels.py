"""Hidden fields as each channel hands them over, before any consent: a Telegram deep link, the
widget's hello (its script tag and the page's URL) and the chat API's metadata. The real gateway
runs in process in front of a stand-in engine, so the test sees exactly what reaches the engine:
the value never does, no file holds it, and only the gateway's memory keeps it until consent.
Dropped values are counted by name and reason in the brand's store, never with the value.
(The consent itself, on the real engine: tests/e2e/test_hidden_fields.py.)
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.brands import publish_flow_file
from bot.gateway.app import create_app
from bot.gateway.state import gateway_of
from bot.pseudonym import subject_id
from storage import hidden_fields, registry
from storage.stores import Stores
from tests.channels.conftest import BASICS_FLOW, BRAND, CREDS, Gateway, gateway_settings
from tests.channels.factories import next_id, tg_message, tg_post
from tests.channels.standins import EngineStandIn, StandIns

FIELDS = """
fields:
  customer_id: {purpose: needs, max_length: 20, pattern: "C-[0-9]{1,12}"}
"""


@pytest.fixture
def gateway(tmp_path: Path, engine: EngineStandIn, standins: StandIns) -> Iterator[Gateway]:
    """The channel tests' gateway, on the basics flow with one hidden field declared."""
    settings = gateway_settings(tmp_path, engine, standins)
    stores = Stores(settings.data_dir)
    flow = tmp_path / "basics-store.yaml"
    flow.write_text(BASICS_FLOW.read_text() + FIELDS)
    publish_flow_file(stores, flow)
    app = create_app(settings, stores=stores)
    try:
        with TestClient(app) as http:
            yield Gateway(http, app, settings, stores, engine, CREDS)
    finally:
        stores.dispose()


def canary() -> str:
    return f"C-{uuid.uuid4().int % 10**12:012d}"


def held(gateway: Gateway, channel: str, user_id: str) -> dict[str, str]:
    sid = subject_id(gateway.settings.key, brand=BRAND, channel=channel, user_id=user_id)
    return gateway_of(gateway.app).runtime.held.peek(BRAND, sid)


def files_holding(gateway: Gateway, word: str) -> list[str]:
    """Every file under the data directory whose raw bytes hold `word` (databases and their
    -wal/-shm files, keys, settings)."""
    root = gateway.settings.data_dir
    return [p.name for p in root.rglob("*") if p.is_file() and word.encode() in p.read_bytes()]


def sent_to_engine(gateway: Gateway) -> str:
    return json.dumps([call.body for call in gateway.engine.sent("webhook")])


def dropped(gateway: Gateway) -> dict[str, dict[str, int]]:
    with gateway.stores.brand(BRAND) as session:
        return hidden_fields.dropped(session)


def test_a_telegram_deep_link_is_held_in_memory_and_never_reaches_the_engine(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user, value = next_id(), canary()
    response = tg_post(
        gateway.http, BRAND, tg_message(user, f"/start {value}"), CREDS.telegram_secret
    )
    assert response.status_code == 200, response.text
    assert held(gateway, "telegram", str(user)) == {"customer_id": value}
    engine = gateway.engine.sent("webhook")
    assert [call.body["message"] for call in engine] == ["/greet"], "the link still greets"
    assert value not in sent_to_engine(gateway)
    assert files_holding(gateway, value) == []
    assert "hidden fields brand=" in caplog.text, "the gateway's log is read"
    assert value not in caplog.text


def test_a_deep_link_that_fails_the_field_checks_is_dropped_and_counted(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user = next_id()
    secret = "Nope-" + uuid.uuid4().hex[:10]
    tg_post(gateway.http, BRAND, tg_message(user, f"/start {secret}"), CREDS.telegram_secret)
    assert held(gateway, "telegram", str(user)) == {}
    assert dropped(gateway) == {"customer_id": {"invalid": 1}}
    assert files_holding(gateway, secret) == []
    assert secret not in caplog.text


def test_the_widget_hello_offers_its_attributes_and_the_page_url(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user, value, tracking = f"browser-{uuid.uuid4().hex[:10]}", canary(), uuid.uuid4().hex
    hello = {
        "type": "hello",
        "user_id": user,
        "fields": {
            "widget": {"customer_id": value},
            "url": {"utm_source": tracking, "customer_id": "C-1", "x" * 300: "y"},
        },
    }
    with gateway.http.websocket_connect(f"/ws/chat/{BRAND}") as socket:
        socket.send_text(json.dumps(hello))
        assert socket.receive_json()["type"] == "ready"
    # Both sources are declared: the page's URL came last and wins.
    assert held(gateway, "web", user) == {"customer_id": "C-1"}
    assert dropped(gateway) == {"(other)": {"undeclared": 1}, "utm_source": {"undeclared": 1}}
    for word in (value, tracking):
        assert files_holding(gateway, word) == []
        assert word not in caplog.text


def test_a_field_declared_for_other_sources_is_not_taken_from_the_url(
    tmp_path: Path, engine: EngineStandIn, standins: StandIns
) -> None:
    settings = gateway_settings(tmp_path, engine, standins)
    stores = Stores(settings.data_dir)
    flow = tmp_path / "basics-store.yaml"
    flow.write_text(
        BASICS_FLOW.read_text()
        + FIELDS.replace("{purpose: needs,", "{from: [api], purpose: needs,")
    )
    publish_flow_file(stores, flow)
    try:
        with TestClient(create_app(settings, stores=stores)) as http:
            with http.websocket_connect(f"/ws/chat/{BRAND}") as socket:
                hello = {
                    "type": "hello",
                    "user_id": "browser-url-1",
                    "fields": {"url": {"customer_id": "C-7"}},
                }
                socket.send_text(json.dumps(hello))
                assert socket.receive_json()["type"] == "ready"
            with stores.brand(BRAND) as session:
                assert hidden_fields.dropped(session) == {"customer_id": {"wrong_source": 1}}
    finally:
        stores.dispose()


def test_api_metadata_is_held_and_undeclared_keys_are_counted(gateway: Gateway) -> None:
    user, value = f"api-{uuid.uuid4().hex[:8]}", canary()
    body = {
        "user_id": user,
        "payload": "/greet",
        "metadata": {"customer_id": value, "email": "sam@example.com", "n": 3},
    }
    response = gateway.http.post(f"/api/v1/chat/{BRAND}", json=body)
    assert response.status_code == 200, response.text
    assert held(gateway, "api", user) == {"customer_id": value}
    assert value not in sent_to_engine(gateway)
    assert "sam@example.com" not in sent_to_engine(gateway)
    assert dropped(gateway) == {"email": {"undeclared": 1}, "n": {"undeclared": 1}}
    assert files_holding(gateway, value) == []
    assert files_holding(gateway, "sam@example.com") == []


def test_api_metadata_with_too_many_keys_is_a_clear_422(gateway: Gateway) -> None:
    body = {
        "user_id": "api-many",
        "text": "hi",
        "metadata": {f"k{i}": "v" for i in range(51)},
    }
    response = gateway.http.post(f"/api/v1/chat/{BRAND}", json=body)
    assert response.status_code == 422
    assert "metadata" in response.text
    assert gateway.engine.sent("webhook") == []


def test_an_erasure_or_withdrawal_through_the_admin_api_drops_what_is_held(
    gateway: Gateway,
) -> None:
    with gateway.stores.registry() as session:
        key = registry.issue_key(session, brand=BRAND, label="hidden fields test")
        session.commit()
    auth = {"Authorization": f"Bearer {key}"}
    for request in ("erase", "withdraw"):
        user = f"api-{uuid.uuid4().hex[:8]}"
        body = {"user_id": user, "payload": "/greet", "metadata": {"customer_id": canary()}}
        assert gateway.http.post(f"/api/v1/chat/{BRAND}", json=body).status_code == 200
        assert held(gateway, "api", user)
        sid = subject_id(gateway.settings.key, brand=BRAND, channel="api", user_id=user)
        route = f"/api/v1/brands/{BRAND}/subjects/{sid}"
        if request == "erase":
            response = gateway.http.delete(route, headers=auth)
        else:
            response = gateway.http.post(
                f"{route}/withdrawals", json={"purpose": "needs"}, headers=auth
            )
        # The stand-in engine runs no actions, so the store knows no such subject yet: 404,
        # and the value held in memory is gone all the same.
        assert response.status_code in (200, 404, 409), response.text
        assert held(gateway, "api", user) == {}
