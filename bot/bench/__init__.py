"""`candor bench`: Candor end to end against the bare Rasa engine and stock Rasa, side by side.

Every system gets the same scripted customers (bot/bench/journeys.py) at each concurrency
level, one system at a time on the same machine, in one run. The result is JSON plus PNG plots;
docs/benchmarks.md explains how to read them. Nothing here is asserted by the tests: speed is
measured, not enforced.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.bench.driver import Level, run_level
from bot.bench.journeys import JOURNEYS, turns_per_round
from bot.bench.systems import SYSTEMS, Running, System

LEVELS = (1, 2, 4, 8, 16, 32)
# A level starts with a progress callback: (system, concurrency, expected turns) -> on_turn.
Progress = Callable[[str, int, int], Callable[[], None]]


def customers_for(concurrency: int, minimum: int) -> int:
    """Enough customers that every in-flight slot is reused several times."""
    return max(minimum, 4 * concurrency)


def _expected_turns(customers: int) -> int:
    return round(customers * turns_per_round() / len(JOURNEYS))


def measure_system(
    running: Running,
    *,
    levels: tuple[int, ...],
    customers: int,
    max_seconds: float,
    progress: Progress,
    think_s: float = 0.0,
) -> dict[str, Any]:
    # One round of every journey first: loads lazy parts (models, caches), not reported.
    asyncio.run(
        run_level(
            running.name,
            running.base_url,
            running.send,
            customers=len(JOURNEYS),
            concurrency=1,
            max_seconds=max_seconds,
        )
    )
    results: list[dict[str, Any]] = []
    for concurrency in levels:
        n = customers_for(concurrency, customers)
        on_turn = progress(running.name, concurrency, _expected_turns(n))
        cpu_before, load_before = running.cpu(), os.getloadavg()[0]
        level: Level = asyncio.run(
            run_level(
                running.name,
                running.base_url,
                running.send,
                customers=n,
                concurrency=concurrency,
                max_seconds=max_seconds,
                on_turn=on_turn,
                think_s=think_s,
            )
        )
        cpu_after = running.cpu()
        row = level.summary()
        row["cpu_ms_per_turn"] = {
            role: round((cpu_after[role] - cpu_before[role]) * 1000 / max(level.turns, 1), 1)
            for role in cpu_after
        }
        row["load_1m_before"] = round(load_before, 2)
        row["latencies_ms"] = level.latencies_ms
        results.append(row)
    return {"levels": results, "rss_mb_after": running.rss()}


def ratios(systems: dict[str, Any], numerator: str, denominator: str) -> dict[str, float]:
    top = {
        lv["concurrency"]: lv["turns_per_s"] for lv in systems.get(numerator, {}).get("levels", [])
    }
    bottom = {
        lv["concurrency"]: lv["turns_per_s"]
        for lv in systems.get(denominator, {}).get("levels", [])
    }
    return {
        str(c): round(top[c] / bottom[c], 2) for c in sorted(top) if c in bottom and bottom[c] > 0
    }


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Where the issue's targets stand at concurrency 8 (reported, never enforced)."""
    systems = result["systems"]
    at8 = {
        name: next((lv for lv in data["levels"] if lv["concurrency"] == 8), None)
        for name, data in systems.items()
    }
    candor, bare, stock = (at8.get(name) for name in ("candor", "bare", "stock"))
    out: dict[str, Any] = {}
    failed = {n: lv["errors"] for n, lv in at8.items() if lv and lv["errors"]}
    if failed:  # a refused or failed turn is fast and cheap: it would flatter every figure
        return {"void": f"turns failed at concurrency 8 {failed}: no target can be judged"}
    if candor and stock:
        ratio = candor["turns_per_s"] / stock["turns_per_s"]
        out["a_over_c_at_8"] = {"value": round(ratio, 2), "target": ">= 5", "met": ratio >= 5}
    if candor and bare:
        ratio = candor["turns_per_s"] / bare["turns_per_s"]
        out["a_over_b_at_8"] = {"value": round(ratio, 2), "target": ">= 0.7", "met": ratio >= 0.7}
    if candor:
        p99 = candor["p99_ms"]
        out["candor_p99_ms_at_8"] = {"value": p99, "target": "<= 50", "met": p99 <= 50}
    return out


def run(
    *,
    systems: tuple[str, ...] = SYSTEMS,
    levels: tuple[int, ...] = LEVELS,
    customers: int = 96,
    max_seconds: float = 60.0,
    stock_validator: bool = False,
    think_s: float = 0.0,
    progress: Progress,
    on_system: Callable[[str], None] = lambda name: None,
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "load_1m_at_start": round(os.getloadavg()[0], 2),
        },
        "settings": {
            "levels": list(levels),
            "customers_min": customers,
            "max_seconds_per_level": max_seconds,
            "validator": "stock" if stock_validator else "compiled",
            "think_s": think_s,
        },
        "journeys": [{"name": j.name, "turns": [t.message for t in j.turns]} for j in JOURNEYS],
        "systems": {},
    }
    started = time.perf_counter()
    for name in systems:
        on_system(name)
        with System(name, stock_validator=stock_validator) as running:
            result["systems"][name] = measure_system(
                running,
                levels=levels,
                customers=customers,
                max_seconds=max_seconds,
                progress=progress,
                think_s=think_s,
            )
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["ratios"] = {
        "a_over_c": ratios(result["systems"], "candor", "stock"),
        "a_over_b": ratios(result["systems"], "candor", "bare"),
    }
    result["targets"] = targets(result)
    return result
