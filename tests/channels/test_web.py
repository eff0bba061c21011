"""The widget's gateway side: its script, its public theme, and its WebSocket protocol."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bot.channels import widget_words
from bot.channels.theme import FONTS
from tests.channels.conftest import BRAND, stored
from tests.stack import Stack

pytestmark = pytest.mark.engine


class WebUser:
    """The widget's protocol, spoken by hand: hello, then one message at a time."""

    def __init__(self, stack: Stack, socket: ClientConnection, user_id: str) -> None:
        self.stack, self.socket, self.user_id = stack, socket, user_id

    def send(self, frame_id: str | None = None, **body: str) -> dict[str, Any]:
        frame = {"type": "message", "id": frame_id or uuid.uuid4().hex, **body}
        self.socket.send(json.dumps(frame))
        return json.loads(self.socket.recv(timeout=60))

    def say(self, text: str) -> list[dict[str, Any]]:
        answer = self.send(text=text)
        assert answer["type"] == "reply", answer
        return answer["messages"]

    def press(self, payload: str) -> list[dict[str, Any]]:
        answer = self.send(payload=payload)
        assert answer["type"] == "reply", answer
        return answer["messages"]


@contextmanager
def widget(stack: Stack, brand: str = BRAND, user_id: str | None = None) -> Iterator[WebUser]:
    url = stack.settings.gateway_url.replace("http", "ws") + f"/ws/chat/{brand}"
    user_id = user_id or uuid.uuid4().hex
    socket = connect(url, open_timeout=10)
    with socket:
        socket.send(json.dumps({"type": "hello", "user_id": user_id}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "ready"}
        yield WebUser(stack, socket, user_id)


def test_script_and_public_theme(stack: Stack) -> None:
    script = stack.http.get("/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("application/javascript")
    assert "attachShadow" in script.text
    assert "data-brand" in script.text
    config = stack.http.get(f"/api/v1/brands/{BRAND}/widget-config")
    assert config.status_code == 200
    assert config.headers["access-control-allow-origin"] == "*"
    body = config.json()
    # The widget's own words, in the live flow's language (tests/unit/test_i18n_widget.py).
    assert body.pop("language") == "en"
    assert body.pop("words") == widget_words.words("en")
    assert body == {
        "brand": BRAND,
        "title": "Basics help",
        "primary": "#7a1f5c",
        "background": "#ffffff",
        "text": "#1d1d1b",
        "socket": f"/ws/chat/{BRAND}",
        "on_primary": "#ffffff",
        "logo": None,
        "font": FONTS["system"],
        "launcher": "Basics help",
    }
    assert "token" not in config.text
    assert "secret" not in config.text
    unknown = stack.http.get("/api/v1/brands/no-such-brand/widget-config")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_brand"
    page = stack.http.get("/")
    assert '<script src="/widget.js" data-brand="' in page.text


def test_a_conversation_over_the_socket(stack: Stack) -> None:
    with widget(stack) as web:
        hello = web.press("/greet")
        assert "a bot" in hello[0]["text"]
        assert [b["title"] for b in hello[-1]["buttons"]] == ["Yes", "No", "More"]
        web.press("/affirm")
        web.press('/choose{"choice": "hiking"}')
        web.say("/boots, maybe")
    answers = stored(stack, "web", web.user_id).answers
    assert [(step, verbatim) for step, verbatim, _ in answers] == [
        ("activity", "hiking"),
        ("need", "boots, maybe"),
    ]


def test_a_resent_frame_is_answered_once_with_the_first_reply(stack: Stack) -> None:
    with widget(stack) as web:
        web.press("/greet")
        first = web.send("frame-1", payload="/affirm")
        assert first["type"] == "reply"
    with widget(stack, user_id=web.user_id) as again:  # a reconnect resends the same id
        repeat = again.send("frame-1", payload="/affirm")
    assert repeat["type"] == "reply"
    assert repeat["repeat"] is True
    assert repeat["messages"] == first["messages"]
    consents = stored(stack, "web", web.user_id).consents
    assert consents.count(("needs", "given", "button")) == 1


def test_bad_frames_get_reasons_and_the_socket_stays_open(stack: Stack) -> None:
    with widget(stack) as web:
        web.socket.send("{not json")
        assert json.loads(web.socket.recv(timeout=10))["error"] == "invalid_request"
        both = web.send(text="a", payload="/affirm")
        assert both["error"] == "invalid_request"
        assert "exactly one" in both["detail"]
        huge = web.send(text="x" * 20_000)
        assert huge["error"] == "invalid_request"
        assert "larger than" in huge["detail"]
        long_text = web.say("x" * 2_001)
        assert "longer than 2000" in long_text[0]["text"]
        forged = web.press("/greet; drop")
        assert "no longer works" in forged[0]["text"]
        assert web.press("/greet")[0]["text"]


def test_unknown_brand_and_missing_hello_close_with_a_code(stack: Stack) -> None:
    base = stack.settings.gateway_url.replace("http", "ws")
    with connect(f"{base}/ws/chat/no-such-brand", open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["error"] == "unknown_brand"
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4404
    with connect(f"{base}/ws/chat/{BRAND}", open_timeout=10) as socket:
        socket.send(json.dumps({"type": "hello", "user_id": "x"}))
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408


def test_the_socket_is_not_compressed_even_when_the_client_offers_it(stack: Stack) -> None:
    """The client offers permessage-deflate (as browsers do); the gateway declines it: no zlib
    streams held per open conversation, and no compression oracle over what customers type."""
    base = stack.settings.gateway_url.replace("http", "ws")
    with connect(f"{base}/ws/chat/{BRAND}", open_timeout=10, compression="deflate") as socket:
        assert socket.request is not None
        assert socket.response is not None
        assert "permessage-deflate" in socket.request.headers.get("Sec-WebSocket-Extensions", "")
        assert "Sec-WebSocket-Extensions" not in socket.response.headers
        socket.send(json.dumps({"type": "hello", "user_id": uuid.uuid4().hex}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "ready"}
