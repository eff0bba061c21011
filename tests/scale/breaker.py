"""A TCP proxy in front of PostgreSQL or Redis that a test can break, to stage outages.

`down()` drops every connection and refuses new ones; `up()` listens again on the same port.
`trip_on(b"...")` goes down the moment a client sends those bytes (the bytes are not passed on),
e.g. in the middle of the transaction that stores an answer.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any


class Breaker:
    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.trips = 0
        self._pattern: bytes | None = None
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.up()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        future: Future[None] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(10)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, inspect: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if inspect and self._pattern is not None and self._pattern in data:
                    self._pattern = None
                    self.trips += 1
                    await self._down()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.target)
        except OSError:
            client_w.close()
            return
        self._writers |= {client_w, server_w}
        await asyncio.gather(
            self._pipe(client_r, server_w, inspect=True),
            self._pipe(server_r, client_w, inspect=False),
        )
        self._writers -= {client_w, server_w}

    async def _up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(
                self._handle, "127.0.0.1", self.port, reuse_address=True
            )

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def up(self) -> None:
        self._pattern = None
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def trip_on(self, pattern: bytes) -> None:
        self._pattern = pattern

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
