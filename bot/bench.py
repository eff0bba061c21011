"""`candor bench`: turns per second and latency of whole survey conversations.

It starts its own engine and gateway on free loopback ports with a throw-away data directory,
drives complete conversations through the chat API at several concurrency levels, and reports
throughput, latency percentiles and resident memory. Figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from bot.launcher import launch
from bot.settings import ROOT, Settings

BRAND = "basics-store"
FLOW = ROOT / "consent_flows" / "examples" / "basics-store.yaml"
# One whole demo survey: greeting, two consents, a button choice and three typed answers.
SCRIPT: list[dict[str, str]] = [
    {"payload": "/greet"},
    {"payload": "/affirm"},
    {"payload": '/choose{"choice": "hiking"}'},
    {"text": "a light rain jacket, maybe boots"},
    {"text": "yes"},
    {"text": "stop-start deliveries and no stock in my size"},
]


@dataclass
class Level:
    concurrency: int
    conversations: int
    turns: int
    errors: int
    seconds: float
    turns_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def _conversation(client: httpx.AsyncClient, latencies: list[float]) -> int:
    user, errors = f"bench-{uuid.uuid4().hex[:12]}", 0
    for turn in SCRIPT:
        started = time.perf_counter()
        response = await client.post(f"/api/v1/chat/{BRAND}", json={"user_id": user, **turn})
        latencies.append(time.perf_counter() - started)
        errors += response.status_code != 200
    return errors


async def _level(base_url: str, concurrency: int, conversations: int) -> Level:
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:

        async def one() -> int:
            async with gate:
                return await _conversation(client, latencies)

        started = time.perf_counter()
        errors = sum(await asyncio.gather(*(one() for _ in range(conversations))))
        seconds = time.perf_counter() - started
    return Level(
        concurrency,
        conversations,
        len(latencies),
        errors,
        round(seconds, 2),
        round(len(latencies) / seconds, 1),
        round(_pct(latencies, 0.5), 1),
        round(_pct(latencies, 0.95), 1),
        round(_pct(latencies, 0.99), 1),
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def measure(*, levels: list[int], conversations: int, stock_validator: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="candor-bench-") as tmp:
        ports = _free_ports(2)
        os.environ["CANDOR_STOCK_VALIDATOR"] = "1" if stock_validator else "0"
        settings = Settings(
            data_dir=Path(tmp) / "data",
            run_dir=Path(tmp) / "run",
            gateway_port=ports[0],
            rasa_url=f"http://127.0.0.1:{ports[1]}",
        )
        running = launch(settings, extra_flows=(FLOW,))
        try:
            asyncio.run(_level(settings.gateway_url, 1, 3))  # warm-up, not reported
            results = [asyncio.run(_level(settings.gateway_url, c, conversations)) for c in levels]
            memory = {
                "engine_rss_mb": rss_mb(running.process.pid),
                "gateway_rss_mb": rss_mb(os.getpid()),
            }
        finally:
            running.stop()
            os.environ.pop("CANDOR_STOCK_VALIDATOR", None)
    return {
        "validator": "stock" if stock_validator else "compiled",
        "levels": [asdict(r) for r in results],
        "memory": memory,
        "cpu_count": os.cpu_count(),
        "median_turn_ms": statistics.median(r.p50_ms for r in results),
    }


def _free_ports(n: int) -> list[int]:
    import socket

    socks, ports = [], []
    for _ in range(n):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in socks:
        sock.close()
    return ports
