"""What each open widget socket holds in the gateway (issue 19): the lean WebSocket protocol
(`bot.gateway.lean_socket.LeanWebSocketProtocol`) and its queue and flag behave as asyncio's do, and
an open socket keeps neither its handshake, nor the page's hidden fields, nor the last message.

Memory figures themselves are measured by benchmarks/widget_memory.py, never asserted here.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.sync.client import connect

from bot.channels import web
from bot.engine.launcher import uvicorn_options
from bot.gateway import body_limit, error_handlers, headers, limits
from bot.gateway.lean_socket import Flag, LeanWebSocketProtocol, Mailbox
from bot.settings import Settings
from tests.channels.conftest import BRAND, Gateway
from tests.stack import free_port


def test_the_gateway_serves_sockets_with_the_lean_protocol(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", run_dir=tmp_path / "run")
    options = uvicorn_options(settings)
    assert options["ws"] is LeanWebSocketProtocol
    assert options["ws_per_message_deflate"] is False


def test_mailbox_is_first_in_first_out_and_wakes_a_waiting_reader() -> None:
    asyncio.run(_mailbox_is_first_in_first_out_and_wakes_a_waiting_reader())


async def _mailbox_is_first_in_first_out_and_wakes_a_waiting_reader() -> None:
    box = Mailbox()
    assert box.empty()
    reader = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.put_nowait("a")
    box.put_nowait("b")
    assert await reader == "a"
    assert box.qsize() == 1
    assert box.get_nowait() == "b"
    assert box.empty()
    with pytest.raises(asyncio.QueueEmpty):
        box.get_nowait()


def test_a_cancelled_read_loses_no_message() -> None:
    asyncio.run(_a_cancelled_read_loses_no_message())


async def _a_cancelled_read_loses_no_message() -> None:
    """The idle timeout cancels the socket's read; a message that arrives next is still read."""
    box = Mailbox()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await box.get()
    box.put_nowait({"type": "websocket.receive", "text": "hi"})
    assert await box.get() == {"type": "websocket.receive", "text": "hi"}


def test_a_woken_then_cancelled_reader_passes_the_message_on() -> None:
    asyncio.run(_a_woken_then_cancelled_reader_passes_the_message_on())


async def _a_woken_then_cancelled_reader_passes_the_message_on() -> None:
    box = Mailbox()
    first = asyncio.create_task(box.get())
    second = asyncio.create_task(box.get())
    await asyncio.sleep(0)
    box.put_nowait("only")
    first.cancel()  # woken by the put, cancelled before it ran
    assert await second == "only"
    assert first.cancelled()


def test_flag_waits_until_set() -> None:
    asyncio.run(_flag_waits_until_set())


async def _flag_waits_until_set() -> None:
    flag = Flag()
    assert not flag.is_set()
    waiter = asyncio.create_task(flag.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    flag.set()
    assert await waiter is True
    flag.clear()
    assert not flag.is_set()
    flag.set()
    assert await flag.wait() is True


@pytest.fixture
def echo_server(tmp_path: Path) -> Iterator[tuple[uvicorn.Server, int]]:
    """uvicorn with the gateway's own options, serving a socket that echoes text frames."""

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_text(await websocket.receive_text())
        except WebSocketDisconnect:
            return

    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", run_dir=tmp_path / "run", gateway_port=port)
    app = Starlette(routes=[WebSocketRoute("/echo", echo)])
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **uvicorn_options(settings)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield server, port
    finally:
        server.should_exit = True
        thread.join(10)


def test_an_open_socket_keeps_no_handshake(echo_server: tuple[uvicorn.Server, int]) -> None:
    server, port = echo_server
    with connect(
        f"ws://127.0.0.1:{port}/echo",
        additional_headers={"Cookie": "session=" + "x" * 2000},
        open_timeout=10,
    ) as socket:
        for text in ("hello", "again"):
            socket.send(text)
            assert socket.recv(timeout=10) == text
        (protocol,) = [
            c for c in server.server_state.connections if isinstance(c, LeanWebSocketProtocol)
        ]
        assert protocol.request is None
        assert protocol.response is None
        # Not even in websockets' parser, which keeps the request it parsed.
        held = protocol.conn.parser.gi_frame.f_locals.get("request")
        assert held is None or not held.headers
        assert isinstance(protocol.queue, Mailbox)
        # Few enough attributes left in its dict for CPython to share the dict's keys.
        assert len(vars(protocol)) <= 30
        assert protocol.queue.empty()
        # The app still sees the request's headers, in its scope.
        assert dict(protocol.scope["headers"])[b"cookie"].startswith(b"session=")
        socket.send(json.dumps({"last": True}))
        assert json.loads(socket.recv(timeout=10)) == {"last": True}


def _handler_coroutines() -> list[Any]:
    """The widget handler's coroutines (bot/channels/web.py) suspended right now."""
    return [
        obj
        for obj in gc.get_objects()
        if inspect.iscoroutine(obj)
        and obj.cr_code.co_filename == web.__file__
        and obj.cr_frame is not None
    ]


def test_an_open_socket_holds_neither_the_hidden_fields_nor_the_last_message(
    gateway: Gateway,
) -> None:
    """What a page sent in its hello and what the customer typed last are not kept in the
    frames that wait on the socket for as long as it is open (up to `ws_idle_s`)."""
    page_value, words = uuid.uuid4().hex, f"typed {uuid.uuid4().hex}"
    hello = {
        "type": "hello",
        "user_id": f"browser-{uuid.uuid4().hex[:10]}",
        "fields": {"url": {"utm_source": page_value}},
    }
    with gateway.http.websocket_connect(f"/ws/chat/{BRAND}") as socket:
        socket.send_text(json.dumps(hello))
        assert socket.receive_json()["type"] == "ready"
        socket.send_text(json.dumps({"type": "message", "id": "m1", "text": words}))
        assert socket.receive_json()["type"] == "reply"
        deadline = time.monotonic() + 10
        while True:  # until the handler is done with the message, waiting for the next
            names = {c.cr_code.co_name for c in _handler_coroutines()}
            if names and not names & {"_one", "_parse", "_answer"}:
                break
            assert time.monotonic() < deadline, "the socket's handler never waited again"
            time.sleep(0.02)
        for coroutine in _handler_coroutines():
            for name, value in coroutine.cr_frame.f_locals.items():
                if isinstance(value, web.Hello):
                    assert value.fields is None, f"{coroutine.__qualname__}: {name}"
                assert not (isinstance(value, str) and (words in value or page_value in value))
                assert not isinstance(value, dict) or page_value not in json.dumps(
                    value, default=str
                )


_ROUTING_FILES = (
    "/starlette/routing.py",
    "/starlette/_exception_handler.py",
    "/fastapi/routing.py",
)


def test_an_open_socket_is_held_by_no_middleware(gateway: Gateway) -> None:
    """The widget's socket goes to the router past the HTTP middleware stack
    (`lean_socket.sockets_past_middleware`): no middleware's frame waits with it."""
    ours = {module.__file__ for module in (body_limit, error_handlers, headers, limits)}
    hello = {"type": "hello", "user_id": f"browser-{uuid.uuid4().hex[:10]}"}
    with gateway.http.websocket_connect(f"/ws/chat/{BRAND}") as socket:
        socket.send_text(json.dumps(hello))
        assert socket.receive_json()["type"] == "ready"
        waiting = [
            obj.cr_code.co_filename
            for obj in gc.get_objects()
            if inspect.iscoroutine(obj) and obj.cr_frame is not None
        ]
        assert web.__file__ in waiting  # the socket's handler is waiting
        held = [f for f in waiting if f in ours or "/starlette/middleware/" in f]
        assert held == []
        # Nor any of the router's: FastAPI's included routers, Starlette's route, its session
        # and exception wrappers (`lean_socket._socket_route`, found in the gateway's app).
        routing = [f for f in waiting if f.endswith(_ROUTING_FILES)]
        assert routing == []
    # HTTP still goes through every layer: the security headers are on a page.
    page = gateway.http.get("/")
    assert page.headers["x-content-type-options"] == "nosniff"


def test_a_socket_path_the_route_does_not_match_is_still_not_found(gateway: Gateway) -> None:
    """Past the middleware, a path under the socket's prefix that its route does not match
    goes to the router, which closes it before the handshake, as it always did."""
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        gateway.http.websocket_connect(f"/ws/chat/{BRAND}/more"),
    ):
        pass
    assert closed.value.code == 1000  # Starlette's not-found close
    with gateway.http.websocket_connect(f"/ws/chat/{BRAND}") as socket:  # the route's own
        socket.send_text(json.dumps({"type": "hello", "user_id": f"browser-{uuid.uuid4().hex}"}))
        assert socket.receive_json()["type"] == "ready"


def test_an_open_socket_keeps_no_request_headers(gateway: Gateway) -> None:
    """The request's headers (a browser's cookies among them) are read before the handshake
    and let go after it: neither the scope nor the `WebSocket` of an open socket keeps them."""
    cookie = f"session={uuid.uuid4().hex}"
    hello = {"type": "hello", "user_id": f"browser-{uuid.uuid4().hex[:10]}"}
    with gateway.http.websocket_connect(f"/ws/chat/{BRAND}", headers={"cookie": cookie}) as socket:
        socket.send_text(json.dumps(hello))
        assert socket.receive_json()["type"] == "ready"
        sockets = [
            value
            for coroutine in _handler_coroutines()
            for value in coroutine.cr_frame.f_locals.values()
            if isinstance(value, WebSocket)
        ]
        assert sockets, "no handler waits on the socket"
        for held in sockets:
            assert held.scope["headers"] == []
            assert "_headers" not in vars(held)  # Starlette's cached `websocket.headers`
            assert cookie not in repr(held.scope)
        socket.send_text(json.dumps({"type": "message", "id": "m1", "text": "hello"}))
        assert socket.receive_json()["type"] == "reply"  # and it still talks
