"""`candor bench --hold N`: N conversations open at once, each on its own widget WebSocket.

Each customer connects to the web widget's socket, says hello, starts the survey and stays
connected with the survey waiting on its first question. With all N open, the run records the
memory of the engine and the gateway and the size of the stores on disk, then checks that the
held conversations still answer (a sample of them take their next turn on the sockets they
kept), and closes them. Memory per conversation is the growth over the idle stack, divided by N.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bot.bench.systems import BRAND, Running, System

SAMPLE = 200


def raise_fd_limit(needed: int) -> int:
    """Each open conversation costs the driver and the gateway one file descriptor each."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = needed + 512 if hard == resource.RLIM_INFINITY else min(hard, needed + 512)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _disk_mb(directory: Path) -> float:
    total = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    return round(total / 2**20, 1)


async def _reply(socket: ClientConnection, frame_id: str) -> dict[str, Any]:
    while True:
        message = json.loads(await socket.recv())
        if message.get("id") == frame_id or message.get("type") == "error":
            return message


async def _open_one(url: str) -> ClientConnection | None:
    socket = await connect(url, max_size=2**16, open_timeout=60, ping_interval=None)
    await socket.send(json.dumps({"user_id": f"hold-{uuid.uuid4().hex[:16]}"}))
    ready = json.loads(await socket.recv())
    if ready.get("type") != "ready":
        await socket.close()
        return None
    await socket.send(json.dumps({"type": "message", "id": "1", "text": "hi"}))
    reply = await _reply(socket, "1")
    if reply.get("type") != "reply" or not reply.get("messages"):
        await socket.close()
        return None
    return socket


async def _hold(
    running: Running, n: int, concurrency: int, on_open: Callable[[], None]
) -> dict[str, Any]:
    url = running.base_url.replace("http://", "ws://") + f"/ws/chat/{BRAND}"
    gate = asyncio.Semaphore(concurrency)
    sockets: list[ClientConnection] = []
    failures = 0

    async def one() -> None:
        nonlocal failures
        async with gate:
            try:
                socket = await _open_one(url)
            except (OSError, TimeoutError, ValueError, InvalidStatus, ConnectionClosed):
                socket = None
            if socket is None:
                failures += 1
            else:
                sockets.append(socket)
            on_open()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    opened_s = time.perf_counter() - started
    await asyncio.sleep(5)  # let the gateway settle (queues drained) before reading memory
    held: dict[str, Any] = {
        "open": len(sockets),
        "failed_to_open": failures,
        "open_seconds": round(opened_s, 1),
    }
    held["rss_mb"] = running.rss()

    sample = random.Random(7).sample(sockets, min(SAMPLE, len(sockets)))
    answered = 0
    for socket in sample:
        await socket.send(json.dumps({"type": "message", "id": "2", "payload": "/affirm"}))
        reply = await _reply(socket, "2")
        texts = " ".join(m["text"] for m in reply.get("messages", []))
        answered += reply.get("type") == "reply" and "outdoors" in texts
    held["sample_next_turn_ok"] = f"{answered}/{len(sample)}"
    await asyncio.gather(*(s.close() for s in sockets), return_exceptions=True)
    return held


def run(
    n: int, *, concurrency: int = 32, on_open: Callable[[], None] = lambda: None
) -> dict[str, Any]:
    limit = raise_fd_limit(n)
    if limit < n + 64:
        raise RuntimeError(
            f"the open-file limit is {limit}, too low for {n} sockets; raise it (ulimit -n)"
        )
    with System("candor") as running:
        idle = running.rss()
        held = asyncio.run(_hold(running, n, concurrency, on_open))
        disk = _disk_mb(running.data_dir) if running.data_dir else float("nan")
    grown = {role: round(held["rss_mb"][role] - idle[role], 1) for role in idle}
    per = {role: round(mb * 1024 / max(held["open"], 1), 1) for role, mb in grown.items()}
    return {
        "conversations": n,
        "concurrency_while_opening": concurrency,
        **held,
        "rss_mb_idle": idle,
        "rss_mb_growth": grown,
        "kb_per_conversation": per,
        "disk_mb_stores": disk,
        "disk_kb_per_conversation": round(disk * 1024 / max(held["open"], 1), 2),
        "fd_limit": limit,
    }
