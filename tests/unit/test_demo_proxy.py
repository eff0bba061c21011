"""The `candor scale` demo proxy spreads connections over the gateways and skips a dead one."""

from __future__ import annotations

import asyncio

from bot.engine.demo_proxy import RoundRobinProxy
from tests.stack import free_port


async def _named_server(name: bytes) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(name)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


async def _ask(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello\n")
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


def test_connections_alternate_between_gateways_and_skip_a_dead_one() -> None:
    async def run() -> tuple[list[bytes], list[bytes]]:
        one, two = await _named_server(b"one"), await _named_server(b"two")
        dead = free_port()
        ports = [s.sockets[0].getsockname()[1] for s in (one, two)]
        proxy = RoundRobinProxy([("127.0.0.1", p) for p in (ports[0], dead, ports[1])])
        port = free_port()
        await proxy.start("127.0.0.1", port)
        answers = [await _ask(port) for _ in range(4)]
        proxy2 = RoundRobinProxy([("127.0.0.1", p) for p in ports])
        port2 = free_port()
        await proxy2.start("127.0.0.1", port2)
        alternating = [await _ask(port2) for _ in range(4)]
        for server in (proxy.server, proxy2.server, one, two):
            assert server is not None
            server.close()
            await server.wait_closed()
        return answers, alternating

    answers, alternating = asyncio.run(run())
    assert set(answers) == {b"one", b"two"}
    assert alternating == [b"one", b"two", b"one", b"two"]
