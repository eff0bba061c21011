"""Bad input to the gateway gets a clear 4xx/503 and never a stack trace (no engine needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from bot.brands import publish_flow_file
from bot.gateway.app import create_app
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
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
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


@pytest.mark.parametrize(
    ("message_id", "words"),
    [
        ("m" * 101, ["message_id", "100 characters"]),
        ("", ["message_id", "at least 1 character"]),
        ("two words", ["message_id", "printable", "without spaces"]),
        ("tab\there", ["message_id", "printable"]),
        ("é-accent", ["message_id", "printable"]),
        (42, ["message_id", "string"]),
    ],
)
def test_a_bad_message_id_is_422_saying_what_to_send(
    client: TestClient, message_id: object, words: list[str]
) -> None:
    body = {"user_id": "u", "text": "hi", "message_id": message_id}
    response = client.post(f"/api/v1/chat/{BRAND}", json=body)
    assert_clear(response, 422, *words)
    assert response.json()["error"] == "invalid_request"


def test_a_bad_reply_to_is_422(client: TestClient) -> None:
    for reply_to in ("has space", "q" * 101, ""):
        body = {"user_id": "u", "text": "hi", "reply_to": reply_to}
        response = client.post(f"/api/v1/chat/{BRAND}", json=body)
        assert_clear(response, 422, "reply_to")


def test_a_good_message_id_and_reply_to_pass_validation(client: TestClient) -> None:
    # The engine is down here: a 503 shows the body was accepted and reached the engine call.
    body = {"user_id": "u", "text": "hi", "message_id": "9b1d-4f" + "x" * 93, "reply_to": "q1"}
    response = client.post(f"/api/v1/chat/{BRAND}", json=body)
    assert_clear(response, 503, "restarting")


def test_openapi_documents_reply_to_message_id_and_question(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    request = schemas["ChatRequest"]["properties"]
    assert {"reply_to", "message_id"} <= set(request)
    assert request["message_id"]["anyOf"][0]["maxLength"] == 100
    assert "question" in schemas["ChatMessage"]["properties"]
    route = spec["paths"]["/api/v1/chat/{brand}"]["post"]
    assert {"200", "404", "409", "422", "503"} <= set(route["responses"])


# --- issue 14: error shapes, the last resort and security headers --------------------------


def test_an_undecodable_body_is_422_invalid_request(client: TestClient) -> None:
    # Bytes that are not UTF-8 used to get FastAPI's `400 {"detail": ...}`.
    response = client.post(
        "/api/v1/chat/demo-outfitters",
        content=b'\xff\xfe{"user_id": "u1"}',
        headers={"content-type": "application/json"},
    )
    assert_clear(response, 422, "could not be read")
    assert response.json()["error"] == "invalid_request"


def test_unknown_routes_and_methods_get_the_error_shape(client: TestClient) -> None:
    assert_clear(client.get("/api/v1/nothing-here"), 404)
    assert client.get("/api/v1/nothing-here").json()["error"] == "not_found"
    assert_clear(client.get("/api/v1/chat/demo-outfitters"), 405)


def test_a_bug_is_a_logged_internal_500_and_the_connection_stays_open(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    app = create_app(settings, stores=stores)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("customer said: my secret answer")

    with TestClient(app) as c:  # raise_server_exceptions stays on: nothing may reach it
        response = c.get("/boom")
    stores.dispose()
    assert_clear(response, 500)
    assert response.json()["error"] == "internal"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "RuntimeError" in caplog.text
    assert "secret answer" not in caplog.text
    assert "Traceback" not in caplog.text


def test_the_openapi_document_gives_every_error_the_error_shape(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema.get("$ref", "").endswith("/ErrorBody"), (method, path, status)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html"),
        ("/docs", "text/html"),
        ("/healthz", "application/json"),
        ("/api/v1/chat/nope", "application/json"),
    ],
)
def test_pages_and_json_get_a_policy_nosniff_and_no_framing(
    client: TestClient, path: str, content_type: str
) -> None:
    response = client.post(path, json={}) if "chat" in path else client.get(path)
    assert response.headers["content-type"].startswith(content_type)
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"


def test_the_chat_page_has_no_inline_script_or_style(client: TestClient) -> None:
    page = client.get("/").text
    assert "<style" not in page
    assert "style=" not in page
    assert "<script>" not in page  # only <script src=...>
    assert client.get("/index.css").status_code == 200


def test_the_widget_stays_embeddable(client: TestClient) -> None:
    for path in ("/widget.js", "/widget.css"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "x-frame-options" not in response.headers
        assert "cross-origin-resource-policy" not in response.headers
    assert "<style>" not in client.get("/widget.js").text  # its style is widget.css


def test_the_docs_page_runs_only_its_own_inline_script(client: TestClient) -> None:
    response = client.get("/docs")
    policy = response.headers["content-security-policy"]
    assert "'sha256-" in policy
    assert "unsafe-inline" not in policy
    assert client.get("/redoc").status_code == 404  # ReDoc needs inline styles: not served
