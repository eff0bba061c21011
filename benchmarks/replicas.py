"""Throughput and latency of whole surveys with 1 and with 2 replicas on PostgreSQL and Redis.

    .venv/bin/python benchmarks/replicas.py --out benchmarks/results/replicas.json

A replica is one Rasa engine and one gateway process (`bot/engine/replicas.py`). For each replica
count it starts the replicas on a fresh schema prefix in the local PostgreSQL
(CANDOR_TEST_POSTGRES_URL) and Redis (CANDOR_TEST_REDIS_URL), warms them up, then drives
closed-loop load: `C` conversations at a time, each a whole basics-store survey (6 turns),
consecutive turns of a conversation sent to different gateways. It reports turns/s and latency
percentiles per level, and the machine's CPU count: everything (engines, gateways, PostgreSQL,
Redis and this driver) shares the same cores. Results: docs/benchmarks.md, docs/deploy.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.bench.systems import CUSTOMER_LIMIT, free_ports, process_cpu_s  # noqa: E402
from bot.engine import replicas  # noqa: E402
from bot.settings import Settings  # noqa: E402
from storage.backends import postgres_url  # noqa: E402
from tests.scale.driver import BRAND, SCRIPT  # noqa: E402  (the survey the scale tests drive)

PG_URL = os.environ.get(
    "CANDOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("CANDOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FLOW = ROOT / "consent_flows" / "examples" / f"{BRAND}.yaml"


def service_pids(name: str) -> list[int]:
    """PostgreSQL's or Redis' processes, when they run on this machine."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/comm"):
        try:
            if stat.read_text().strip().startswith(name):
                pids.append(int(stat.parent.name))
        except OSError:
            continue
    return pids


def cpu_snapshot(running: replicas.Replicas) -> dict[str, float]:
    snapshot = {
        "engines": sum(process_cpu_s(r.engine.pid) for r in running.replicas),
        "gateways": sum(process_cpu_s(r.gateway.pid) for r in running.replicas),
        "postgresql": sum(process_cpu_s(pid) for pid in service_pids("postgres")),
        "redis": sum(process_cpu_s(pid) for pid in service_pids("redis-server")),
        "driver": time.process_time(),
    }
    return snapshot


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1)


async def level(urls: list[str], concurrency: int, conversations: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    refusals: dict[str, int] = {}  # status and error code of each failed turn, counted
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency + 10, keepalive_expiry=2.0)
    clients = [httpx.AsyncClient(base_url=u, timeout=180, limits=limits) for u in urls]

    async def survey(index: int) -> None:
        nonlocal errors
        user = f"bench-{uuid.uuid4().hex[:10]}"
        async with gate:
            for k, turn in enumerate(SCRIPT):
                client = clients[(index + k) % len(clients)]
                started = time.perf_counter()
                response = await client.post(
                    f"/api/v1/chat/{BRAND}", json={"user_id": user, **turn}
                )
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors += 1
                    try:
                        code = str(response.json().get("error"))
                    except ValueError:
                        code = "not JSON"
                    label = f"{response.status_code} {code}"
                    refusals[label] = refusals.get(label, 0) + 1

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    await asyncio.gather(*(survey(i) for i in range(conversations)))
    seconds = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return {
        "concurrency": concurrency,
        "conversations": conversations,
        "turns": len(latencies),
        "errors": errors,
        "refusals": refusals,
        "seconds": round(seconds, 1),
        "turns_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": pct(latencies, 0.5),
        "p95_ms": pct(latencies, 0.95),
        "p99_ms": pct(latencies, 0.99),
        # 1-minute load average before and after: above ~2 on 2 cores, other jobs competed.
        "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }


def drop(prefix: str) -> None:
    engine = create_engine(postgres_url(PG_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for (schema,) in conn.execute(
            text("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :p)"), {"p": prefix}
        ).all():
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        for (role,) in conn.execute(
            text("SELECT rolname FROM pg_roles WHERE starts_with(rolname, :p)"), {"p": prefix}
        ).all():
            conn.execute(text(f'DROP ROLE "{role}"'))
    engine.dispose()


def measure(count: int, levels: list[tuple[int, ...]]) -> dict[str, object]:
    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    with tempfile.TemporaryDirectory(prefix="candor-replicas-") as tmp:
        ports = free_ports(2 * count + 2)
        base = Settings(
            data_dir=Path(tmp) / "data",
            run_dir=Path(tmp) / "run",
            secret_key=os.urandom(32).hex(),
            database_url=PG_URL,
            redis_url=REDIS_URL,
            schema_prefix=prefix,
            gateway_port=ports[-1],
            rasa_url=f"http://127.0.0.1:{ports[-2]}",
            purge_interval_s=0,
            engine_timeout_s=120,
            log_level="WARNING",
            # A scripted customer sends its next turn the moment it is answered, which the
            # per-customer limit (5 a second) would refuse; `candor bench` lifts it the same way.
            limit_chat_customer=CUSTOMER_LIMIT,
            # 200 conversations start at once: their first turns, a burst of one brand's
            # traffic above the brand's 200 a second, were refused (429) with two replicas.
            limit_chat_brand=CUSTOMER_LIMIT,
        )
        running = replicas.start(
            base,
            count=count,
            engine_ports=ports[:count],
            gateway_ports=ports[count : 2 * count],
            extra_flows=(FLOW,),
        )
        try:
            asyncio.run(level(running.gateway_urls, 4, 8))  # warm-up, not reported
            results = []
            for concurrency, conversations in levels:
                before = cpu_snapshot(running)
                result = asyncio.run(level(running.gateway_urls, concurrency, conversations))
                after = cpu_snapshot(running)
                # CPU milliseconds per turn, by component (all replicas together).
                result["cpu_ms_per_turn"] = {
                    k: round((after[k] - before[k]) * 1000 / result["turns"], 1) for k in before
                }
                results.append(result)
        finally:
            running.stop()
            drop(prefix)
    return {"replicas": count, "levels": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", default="1,2", help="replica counts to measure")
    parser.add_argument("--levels", default="16:64,200:200", help="concurrency:conversations pairs")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    levels = [tuple(int(x) for x in pair.split(":")) for pair in args.levels.split(",")]
    runs = [measure(int(n), levels) for n in args.replicas.split(",")]
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "note": "engines, gateways, PostgreSQL, Redis and the load driver share these CPUs",
        "runs": runs,
    }
    print(
        f"{'replicas':>8} {'conc':>5} {'turns':>6} {'err':>4} {'turns/s':>8} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'load':>9}"
    )
    for run in runs:
        for lv in cast("list[dict[str, Any]]", run["levels"]):
            print(
                f"{run['replicas']:>8} {lv['concurrency']:>5} {lv['turns']:>6} {lv['errors']:>4} "
                f"{lv['turns_per_s']:>8} {lv['p50_ms']:>8} {lv['p95_ms']:>8} {lv['p99_ms']:>8}"
                f" {lv['load_avg'][0]:>4}-{lv['load_avg'][1]:<4}"
            )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
