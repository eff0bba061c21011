"""Bad input to the gateway gets a clear 4xx/503 and never a stack trace (no engine needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.brands import publish_flow_file
from storage.stores import Stores
from tests.stack import make_settings

BRAND = "trailhead-outfitters"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    # rasa_url points at a port nobody listens on: the engine is "down".
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, settings.demo_flow)
    with TestClient(create_app(settings, stores=stores), raise_server_exceptions=False) as c:
        yield c
    stores.dispose()


def assert_clear(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert "Traceback" not in response.text and 'File "' not in response.text
    for word in words:
        assert word in body["detail"]


def test_unknown_brand_is_404_naming_it(client: TestClient) -> None:
    response = client.post("/api/v1/chat/no-such-brand", json={"user_id": "u", "text": "hi"})
    assert_clear(response, 404, "no-such-brand")


def test_invalid_brand_slug_is_404(client: TestClient) -> None:
    response = client.post("/api/v1/chat/..%2Fetc", json={"user_id": "u", "text": "hi"})
    assert response.status_code == 404


def test_empty_body_is_422(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/chat/{BRAND}", content=b"", headers={"content-type": "application/json"}
    )
    assert_clear(response, 422, "empty")


def test_non_json_body_is_422(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/chat/{BRAND}",
        content=b"user_id=u&text=hi{",
        headers={"content-type": "application/json"},
    )
    assert_clear(response, 422, "not valid JSON")


def test_blank_text_is_422(client: TestClient) -> None:
    response = client.post(f"/api/v1/chat/{BRAND}", json={"user_id": "u", "text": "   "})
    assert_clear(response, 422, "empty")


def test_text_and_payload_together_is_422(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/chat/{BRAND}", json={"user_id": "u", "text": "a", "payload": "/affirm"}
    )
    assert_clear(response, 422, "exactly one")


def test_oversized_text_is_422(client: TestClient) -> None:
    response = client.post(f"/api/v1/chat/{BRAND}", json={"user_id": "u", "text": "x" * 2001})
    assert_clear(response, 422, "2000")


def test_oversized_body_is_422_before_parsing(client: TestClient) -> None:
    response = client.post(
        f"/api/v1/chat/{BRAND}",
        content=b"{" + b" " * 20_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert_clear(response, 422, "larger than")


def test_engine_down_is_503_restarting(client: TestClient) -> None:
    response = client.post(f"/api/v1/chat/{BRAND}", json={"user_id": "u", "text": "hi"})
    assert_clear(response, 503, "restarting", "send it again")
    assert response.headers["retry-after"] == "5"


def test_action_endpoint_refuses_a_wrong_token(client: TestClient) -> None:
    response = client.post("/internal/actions?token=nope", json={"next_action": "x"})
    assert response.status_code == 403


def test_openapi_documents_the_chat_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/chat/{brand}" in spec["paths"]
    assert "/internal/actions" not in spec["paths"]
