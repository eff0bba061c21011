"""`candor bench --turns N`: what a turn costs as one conversation grows long.

Rasa loads and replays a conversation's tracker on every turn, so a cost that grows with the
conversation's length hides in a benchmark of short surveys. Here each customer keeps talking
in one conversation: the scripted buttons survey, then "hi" to start it again, and so on, for
N turns. Turns are sent one at a time (concurrency 1), so the CPU each process used between
sending a turn and its reply is that turn's. Reported per system: CPU ms per turn (engine,
gateway) in windows of turns (1-10, ..., N-9..N), latency in the same windows, and the ratio of
the last window to the first (the issue's target: at most 1.2 at turn 200 against turn 10).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from bot.bench.journeys import BUTTONS, Turn
from bot.bench.systems import Running

WINDOW = 10


def long_conversation(turns: int) -> list[Turn]:
    """The buttons survey again and again in one conversation ("hi" starts it over)."""
    out: list[Turn] = []
    while len(out) < turns:
        out.extend(BUTTONS.turns)
    return out[:turns]


async def _play(running: Running, script: list[Turn], on_turn: Callable[[], None]) -> list[Any]:
    """One conversation: per turn (cpu seconds per role, latency ms, ok)."""
    user = f"long-{uuid.uuid4().hex[:16]}"
    rows = []
    async with httpx.AsyncClient(base_url=running.base_url, timeout=60) as client:
        for turn in script:
            before = running.cpu()
            sent = time.perf_counter()
            try:
                ok = await running.send(client, user, turn)
            except httpx.HTTPError:
                ok = False
            latency = (time.perf_counter() - sent) * 1000
            after = running.cpu()
            rows.append(({r: after[r] - before[r] for r in after}, latency, ok))
            on_turn()
    return rows


def measure(
    running: Running, *, turns: int, conversations: int, on_turn: Callable[[], None]
) -> dict[str, Any]:
    """Windows of WINDOW turns: the median over conversations of each window's mean cost."""
    script = long_conversation(turns)
    asyncio.run(_play(running, script[: len(BUTTONS.turns)], lambda: None))  # warm-up
    played = [asyncio.run(_play(running, script, on_turn)) for _ in range(conversations)]
    windows: list[dict[str, Any]] = []
    for start in range(0, turns, WINDOW):
        cpu: dict[str, list[float]] = {}
        latency: list[float] = []
        errors = 0
        for rows in played:
            part = rows[start : start + WINDOW]
            for role in part[0][0]:
                cpu.setdefault(role, []).append(statistics.fmean(r[0][role] for r in part) * 1000)
            latency.append(statistics.fmean(r[1] for r in part))
            errors += sum(not r[2] for r in part)
        windows.append(
            {
                "turns": f"{start + 1}-{min(start + WINDOW, turns)}",
                "cpu_ms_per_turn": {r: round(statistics.median(v), 2) for r, v in cpu.items()},
                "cpu_ms_total": round(sum(statistics.median(v) for v in cpu.values()), 2),
                "latency_ms": round(statistics.median(latency), 1),
                "errors": errors,
            }
        )
    first, last = float(windows[0]["cpu_ms_total"]), float(windows[-1]["cpu_ms_total"])
    return {
        "turns": turns,
        "conversations": conversations,
        "windows": windows,
        "last_over_first_cpu": round(last / first, 2) if first else None,
    }
