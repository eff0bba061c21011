"""A closed-loop load driver: N scripted customers, at most C conversations in flight.

Each customer plays one journey turn by turn, waiting for each reply before the next message,
as a person would (only faster). The driver stops starting conversations when its time is up
and abandons what is still in flight shortly after, so a run always ends in bounded time; what
was abandoned is reported, never hidden.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bot.bench.journeys import JOURNEYS, Journey, Turn

# Sends one turn for one customer and says whether a proper reply came back.
Send = Callable[[httpx.AsyncClient, str, Turn], Awaitable[bool]]


@dataclass
class Level:
    system: str
    concurrency: int
    customers: int
    completed: int
    turns: int
    errors: int
    abandoned: int
    seconds: float
    turns_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    latencies_ms: list[float] = field(repr=False, default_factory=list)

    def summary(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "latencies_ms"}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: the value at or below which a share q of the values lie."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-round(q * len(ordered) * 1000) // 1000))  # ceil(q * n), float-safe
    return ordered[min(len(ordered), rank) - 1]


async def run_level(
    system: str,
    base_url: str,
    send: Send,
    *,
    customers: int,
    concurrency: int,
    max_seconds: float,
    on_turn: Callable[[], None] = lambda: None,
    journeys: tuple[Journey, ...] = JOURNEYS,
    request_timeout_s: float = 60.0,
    think_s: float = 0.0,
) -> Level:
    """Drive `customers` through their journeys, `concurrency` at a time.

    `think_s` is the mean pause before each turn after the first (spread evenly over half to
    one and a half times), as a person reads and types; it is not part of the latency.
    Without it (the default) every conversation always has a turn in flight, the hardest
    case: then latency is concurrency / throughput (Little's law).
    """
    latencies: list[float] = []
    errors = completed = 0
    gate = asyncio.Semaphore(concurrency)
    started = time.perf_counter()
    deadline = started + max_seconds
    limits = httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(request_timeout_s)

    async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=limits) as client:

        async def customer(index: int) -> None:
            nonlocal errors, completed
            async with gate:
                if time.perf_counter() > deadline:
                    return
                journey = journeys[index % len(journeys)]
                user = f"bench-{uuid.uuid4().hex[:16]}"
                pauses = random.Random(index)
                for position, turn in enumerate(journey.turns):
                    if think_s:
                        # Spread (0.5-1.5x): equal pauses would march every customer in step
                        # and turn the run into bursts of C simultaneous messages. The first
                        # message waits too (0-1.5x): people do not all arrive at one instant,
                        # and without it the first C messages came as one burst, whose queue
                        # was most of the p99 (docs/benchmarks.md, "People-paced").
                        low = 0.5 if position else 0.0
                        await asyncio.sleep(think_s * pauses.uniform(low, 1.5))
                    sent = time.perf_counter()
                    try:
                        ok = await send(client, user, turn)
                    except httpx.HTTPError:
                        ok = False
                    latencies.append((time.perf_counter() - sent) * 1000)
                    errors += not ok
                    on_turn()
                completed += 1

        tasks = [asyncio.create_task(customer(i)) for i in range(customers)]
        grace = request_timeout_s * 2
        _, pending = await asyncio.wait(tasks, timeout=max_seconds + grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        seconds = time.perf_counter() - started
    turns = len(latencies)
    return Level(
        system=system,
        concurrency=concurrency,
        customers=customers,
        completed=completed,
        turns=turns,
        errors=errors,
        abandoned=customers - completed,
        seconds=round(seconds, 2),
        turns_per_s=round(turns / seconds, 1) if seconds else 0.0,
        p50_ms=round(percentile(latencies, 0.50), 1),
        p95_ms=round(percentile(latencies, 0.95), 1),
        p99_ms=round(percentile(latencies, 0.99), 1),
        max_ms=round(max(latencies, default=float("nan")), 1),
        latencies_ms=[round(x, 2) for x in latencies],
    )
