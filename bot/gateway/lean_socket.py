"""A WebSocket protocol for uvicorn that holds less for each open socket (issue 19).

The widget keeps one socket open per conversation, so what each socket holds is most of the
gateway's memory with many customers chatting (docs/benchmarks.md, "Open conversations held
at once"; broken down by benchmarks/widget_memory.py). `LeanWebSocketProtocol` is uvicorn's
own sans-I/O protocol (its default) with three things held more cheaply; the frames it reads
and writes are uvicorn's, unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from typing import Any

from starlette.routing import Match, WebSocketRoute
from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class Mailbox:
    """The part of `asyncio.Queue` uvicorn's WebSocket protocol uses (`put_nowait`, `get`,
    `empty`), with `get` as `asyncio.Queue.get` does it (FIFO, cancellable, fair to waiters).

    An `asyncio.Queue` allocates three deques and an `Event` (a fourth deque) up front: about
    3 KB for each open socket, whose queue rarely holds more than one message (uvicorn stops
    reading the socket while a message waits in it)."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] = []

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._wake_next()

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        while not self._items:
            getter = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()
                with contextlib.suppress(ValueError):
                    self._getters.remove(getter)
                # Woken, then cancelled: pass the wake-up on, as asyncio.Queue does.
                if self._items and not getter.cancelled():
                    self._wake_next()
                raise
        return self._items.pop(0)

    def _wake_next(self) -> None:
        while self._getters:
            getter = self._getters.pop(0)
            if not getter.done():
                getter.set_result(None)
                return


class Flag:
    """`asyncio.Event` (`set`, `clear`, `is_set`, `wait`), allocating its list of waiters only
    when one waits: uvicorn's protocol makes one per socket, almost never waited on."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if self._set:
            return
        self._set = True
        for waiter in self._waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            self._waiters.remove(waiter)


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, holding less for each open socket (issue 19).

    The widget keeps one socket open per conversation, so what each socket holds is most of
    the gateway's memory (docs/benchmarks.md, "Open conversations held at once"; broken down
    by benchmarks/widget_memory.py). Same frames and the same behaviour, with:

    - `Mailbox` and `Flag` for the protocol's `asyncio.Queue` and `asyncio.Event` (about 3.8 KB
      of deques a socket);
    - the handshake's request and response (their parsed headers, about 3 KB, more with a
      browser's cookies) let go once the handshake is over: the app's scope keeps its own
      copy of the request's headers;
    - slots for the attributes uvicorn sets once per socket: the rest (24 of 37) fit the
      compact dict CPython shares the keys of (at most 30), instead of a 1.6 KB dict of its own.
    """

    __slots__ = (
        "app",
        "app_state",
        "asgi_version",
        "close_timeout",
        "config",
        "connections",
        "default_headers",
        "logger",
        "loop",
        "ping_interval",
        "ping_timeout",
        "root_path",
        "tasks",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Mailbox()  # type: ignore[assignment]
        self.writable = Flag()  # type: ignore[assignment]
        self.writable.set()

    async def send(self, message: Any) -> None:
        await super().send(message)
        request = getattr(self, "request", None)
        if self.handshake_complete and request is not None:  # accepted or refused
            # websockets' parser keeps the request it parsed for as long as the socket is
            # open (a local of its generator, never read again): its headers are emptied.
            request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]


def sockets_past_middleware(app: Any, prefix: str = "/ws/chat/") -> None:
    """Send the widget's sockets straight to their endpoint, past the HTTP middleware stack
    and the router.

    None of the stack acts on a WebSocket (ours and Starlette's error middleware pass
    non-HTTP scopes through; the socket route closes with its own codes and needs no
    exception handlers or FastAPI's exit stack), yet each layer's frame stays alive for as long
    as a socket is open: about 7 KB per open conversation (benchmarks/widget_memory.py). So do
    the router's: FastAPI's included routers, Starlette's route and session wrappers and its
    exception wrapper (which has no handlers to call here, the middleware that installs them
    being bypassed) are eight more frames per socket, about 4 KB with their closures and
    FastAPI's entries in the scope. The route is still matched by its own `matches` (the same
    path parameters) and the endpoint gets the same `WebSocket` as Starlette's
    `websocket_session` would give it. Every other scope, other WebSockets included, goes
    through the stack as before; a socket path the route does not match goes to the router
    (which closes it as not found).
    """
    build = app.build_middleware_stack

    def build_with_bypass() -> Any:
        stack, router = build(), app.router
        route = _socket_route(router.routes, prefix)

        def dispatch(scope: Any, receive: Any, send: Any) -> Any:
            # A plain function returning the awaitable: no frame of its own to keep.
            if scope["type"] != "websocket" or not scope["path"].startswith(prefix):
                return stack(scope, receive, send)
            if route is not None:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    return route.endpoint(WebSocket(scope, receive=receive, send=send))
            return router(scope, receive, send)

        return dispatch

    app.build_middleware_stack = build_with_bypass


def _socket_route(routes: list[Any], prefix: str) -> WebSocketRoute | None:
    """The function-endpoint WebSocket route serving paths under `prefix`, looked for through
    FastAPI's included routers that add no prefix of their own; None if there is no such route
    (or it is not where this expects it), and then the router serves the sockets as before."""
    for route in routes:
        if isinstance(route, WebSocketRoute):
            if route.path.startswith(prefix) and inspect.isfunction(route.endpoint):
                return route
            continue
        included = getattr(route, "original_router", None)  # fastapi.routing._IncludedRouter
        context = getattr(route, "include_context", None)
        if included is None or getattr(context, "prefix", None) != "":
            continue
        if getattr(included, "prefix", None) != "":
            continue
        found = _socket_route(included.routes, prefix)
        if found is not None:
            return found
    return None
