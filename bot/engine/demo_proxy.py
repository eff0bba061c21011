"""A round-robin TCP proxy for the `candor scale` demo: a stand-in for a real load balancer.

Each new client connection goes to the next gateway in turn; bytes are copied both ways and
nothing is inspected, so HTTP keep-alive and WebSocket connections stay on the gateway they
opened. Gateways are stateless, so no stickiness is needed for correctness. In production use
a real load balancer (HAProxy, nginx, a cloud balancer): see docs/deploy.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

log = logging.getLogger("candor.proxy")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):  # the event loop is already closing
            writer.close()


class RoundRobinProxy:
    def __init__(self, upstreams: list[tuple[str, int]]) -> None:
        self.upstreams = upstreams
        self._next = itertools.cycle(range(len(upstreams)))
        self.server: asyncio.Server | None = None

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        for _ in self.upstreams:  # skip a gateway that is down
            host, port = self.upstreams[next(self._next)]
            try:
                up_r, up_w = await asyncio.open_connection(host, port)
                break
            except OSError:
                log.warning("gateway %s:%d does not answer; trying the next", host, port)
        else:
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))

    async def start(self, host: str, port: int) -> None:
        self.server = await asyncio.start_server(self._handle, host, port)

    async def serve_forever(self, host: str, port: int) -> None:
        await self.start(host, port)
        assert self.server is not None
        async with self.server:
            await self.server.serve_forever()
