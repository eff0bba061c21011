"""Hostile bodies for the Telegram and Slack webhooks, sent with valid credentials.

A forged request stops at the secret or the signature; these get past it, as a platform's own
(or a stolen secret's) would, and must still get a documented 4xx or 200, never a 5xx. The
fixed cases are the ones that used to answer 500; hypothesis adds arbitrary JSON values.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.channels.factories import slack_headers
from tests.fuzz.conftest import BRAND, FUZZ_EXAMPLES, Target, tally

pytestmark = pytest.mark.fuzz

DEEP = 5_000
HOSTILE: list[bytes] = [
    b"[" * DEEP + b"]" * DEEP,
    b"[" * DEEP,
    b'{"a":' * 3_000 + b"1" + b"}" * 3_000,
    b'{"update_id": 1, "message": ' + b"[" * DEEP + b"]" * DEEP + b"}",
    b"{{{",
    b"",
    b"\xff\xfe{}",
    b"null",
    b"[]",
    b'"text"',
    b"1e999999",
    b'{"update_id": 1e400}',
    b'{"update_id": 99999999999999999999999999}',
    b'{"update_id": 1, "message": "x"}',
    b'{"update_id": 1, "callback_query": []}',
    b'{"type": "event_callback", "event": "x"}',
    b'{"type": "event_callback", "event_id": [], "event": {"type": "message"}}',
    b'{"type": "event_callback", "event": {"type": "message", "channel_type": "im", '
    b'"user": 1, "team": [], "channel": {}}}',
    b'{"type": "block_actions", "actions": ["x"]}',
    b'{"type": "block_actions", "actions": [{"action_id": 1}], "user": "u"}',
    b'{"type": "url_verification", "challenge": ' + b"[" * 900 + b"]" * 900 + b"}",
    b"payload=%7B%7B%7B",
    b"payload=" + b"%5B" * DEEP,
    b"payload=%5B1%5D",
    b"payload=%22x%22",
    urlencode({"payload": json.dumps({"type": "block_actions", "actions": "x"})}).encode(),
]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=30,
)
# Objects with the keys the adapters read, holding anything.
KEYS = st.sampled_from(
    [
        "update_id",
        "message",
        "callback_query",
        "type",
        "event",
        "event_id",
        "actions",
        "user",
        "team",
        "channel",
        "container",
        "trigger_id",
        "team_id",
        "text",
        "from",
        "chat",
        "data",
        "challenge",
        "token",
        "channel_type",
        "subtype",
        "bot_id",
    ]
)
PAYLOADS = st.recursive(
    st.none() | st.integers() | st.text(max_size=20) | st.booleans(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=6),
    max_leaves=40,
)
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES * 5,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


@pytest.fixture(scope="module")
def http(target: Target) -> Iterator[TestClient]:
    with TestClient(target.app) as client:
        yield client


def telegram(http: TestClient, target: Target, body: bytes) -> int:
    headers = {
        "content-type": "application/json",
        "X-Telegram-Bot-Api-Secret-Token": target.creds.telegram_secret,
    }
    status = http.post(f"/channels/telegram/{BRAND}", content=body, headers=headers).status_code
    tally(status)
    return status


def slack(http: TestClient, target: Target, body: bytes, content_type: str | None = None) -> int:
    kind = content_type or (
        "application/x-www-form-urlencoded" if body.startswith(b"payload=") else "application/json"
    )
    headers = {"content-type": kind, **slack_headers(target.creds.slack_signing_secret, body)}
    status = http.post(f"/channels/slack/{BRAND}/events", content=body, headers=headers).status_code
    tally(status)
    return status


@pytest.mark.parametrize("body", HOSTILE, ids=lambda b: repr(b[:24]))
def test_telegram_hostile_body_is_a_4xx(http: TestClient, target: Target, body: bytes) -> None:
    assert telegram(http, target, body) in (200, 422)


@pytest.mark.parametrize("body", HOSTILE, ids=lambda b: repr(b[:24]))
def test_slack_hostile_body_is_a_4xx(http: TestClient, target: Target, body: bytes) -> None:
    assert slack(http, target, body) in (200, 422)


@pytest.mark.parametrize("body", HOSTILE[:6], ids=lambda b: repr(b[:24]))
def test_slack_body_is_a_4xx_whatever_its_content_type(
    http: TestClient, target: Target, body: bytes
) -> None:
    for kind in ("text/plain", "application/x-www-form-urlencoded", "application/json; x=1"):
        assert slack(http, target, body, kind) in (200, 422)


@FUZZ
@given(value=JSON_VALUES | PAYLOADS)
def test_any_signed_json_is_answered_without_a_5xx(
    http: TestClient, target: Target, value: Any
) -> None:
    body = json.dumps(value).encode()
    assert telegram(http, target, body) < 500
    assert slack(http, target, body) < 500
    form = urlencode({"payload": json.dumps(value)}).encode()
    assert slack(http, target, form) < 500


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (None, "v0=\u00e9\u00e9".encode()),  # raw non-ASCII bytes, as a client can send them
        (None, b"v0=\xff" + b"0" * 63),
        ("\u00b2".encode("latin-1"), None),  # a superscript digit: str.isdigit() said yes
        (b"1" * 5_000, None),  # beyond int()'s digit limit
        (b"-1", None),
    ],
)
def test_slack_headers_of_any_bytes_are_401(
    http: TestClient,
    target: Target,
    caplog: pytest.LogCaptureFixture,
    timestamp: bytes | None,
    signature: bytes | None,
) -> None:
    body = b'{"type": "event_callback"}'
    headers: dict[str, Any] = slack_headers(target.creds.slack_signing_secret, body)
    if timestamp is not None:
        headers["X-Slack-Request-Timestamp"] = timestamp
    if signature is not None:
        headers["X-Slack-Signature"] = signature
    headers["content-type"] = "application/json"
    response = http.post(f"/channels/slack/{BRAND}/events", content=body, headers=headers)
    tally(response.status_code)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_signature"
    assert "Traceback" not in caplog.text
