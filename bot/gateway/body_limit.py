"""Refuse oversized request bodies before anything parses them, and requests that arrive too
slowly before they hold a connection for long."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.gateway.errors import BodyTooLarge, RequestTooSlow, body_of, send_answer

if TYPE_CHECKING:
    from bot.settings import Settings


class BodyLimit:
    """ASGI middleware: a body over `limit` bytes gets `BodyTooLarge`'s answer (422), unread.

    Only public routes (`prefixes`) are limited; the engine's action calls carry whole trackers.
    """

    def __init__(self, app: ASGIApp, limit: int, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.limit = limit
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await send_answer(BodyTooLarge(self.limit), scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await send_answer(BodyTooLarge(self.limit), scope, receive, send)


class _TooLarge(Exception):
    pass


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options that bound how long a client may take to send a request.

    uvicorn (0.54) has a keep-alive timeout between requests but none while one arrives
    (encode/uvicorn#157): a client sending a header byte a second, or a body that never ends,
    holds its connection for as long as it likes, and a few hundred of them exhaust the server.
    An ASGI middleware cannot help with headers, since the app is called only once they are
    complete, so the deadline lives in the HTTP protocol. Pass these to `uvicorn.Config` or
    `uvicorn.run` wherever the gateway is served.
    """
    return {"http": deadline_protocol(settings.header_timeout_s, settings.body_timeout_s)}


# The count is the nested class's eight small methods; the class lives in here so that uvicorn
# is imported only where the gateway is served.
def deadline_protocol(header_s: float, body_s: float) -> type[asyncio.Protocol]:  # noqa: C901
    """uvicorn's httptools protocol, with deadlines for a request's headers and its body.

    The header deadline runs from the connection opening (or a keep-alive request's first
    byte) until the headers are complete; the body deadline from then until the body is. A
    client that misses one gets a 408 (unless a response has started) and its connection is
    closed, which the app sees as a disconnect. WebSocket upgrades leave HTTP after their
    headers, so only the header deadline applies to them; the socket's own idle timeout
    (bot.channels.web) takes over from there.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class DeadlineProtocol(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def _arm(self, seconds: float, phase: str) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._expired, phase)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self, phase: str) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if phase == "headers":  # the previous request's response may still be going out
                answer = cycle is None or cycle.response_complete
            else:
                answer = not cycle.response_started
            if answer:
                self.transport.write(_timeout_response(phase))
            self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(header_s, "headers")

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._deadline is None:
                self._arm(header_s, "headers")

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            if not (self.parser.should_upgrade() and self._should_upgrade()):
                self._arm(body_s, "body")

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return DeadlineProtocol


def _timeout_response(phase: str) -> bytes:
    # Written by the protocol, below the app: the body comes from `ERRORS`' row all the same.
    body = body_of(RequestTooSlow(phase))
    head = (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    return head + body
