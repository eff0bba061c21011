"""A second customer's turn time while one client floods the chat API (issue 14, item 4).

Starts the real stack (Rasa engine and gateway, `bot.engine.launcher`) with the shipped abuse
limits,
then measures one customer's turns three times: alone (baseline), while a flooder sends chat
requests at concurrency 200 from one address with the limits on, and the same flood with the
limits off (today's behaviour before bot/gateway/limits.py). The customer sends a new conversation's
first message every 0.25 s, from its own address, each from a fresh user id (its own limits are
never the ones tested). The flooder runs in its own process, so its client work does not share
the gateway's interpreter.

    .venv/bin/python benchmarks/flood.py                       # table + JSON
    .venv/bin/python benchmarks/flood.py --turns 60 --concurrency 200

Results go to benchmarks/results/flood.json. Addresses are given to the gateway with
X-Forwarded-For, which uvicorn trusts from loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BRAND = "trailhead-outfitters"
CUSTOMER_IP, FLOODER_IP = "192.0.2.200", "198.51.100.99"
RESULTS = ROOT / "benchmarks" / "results" / "flood.json"


async def flood(url: str, concurrency: int, seconds: float) -> Counter[int]:
    """Send chat requests from one address, `concurrency` at a time, for `seconds`."""
    statuses: Counter[int] = Counter()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:

        async def worker() -> None:
            while time.monotonic() < deadline:
                try:
                    response = await http.post(
                        f"/api/v1/chat/{BRAND}",
                        json={"user_id": uuid.uuid4().hex, "text": "hello"},
                        headers={"x-forwarded-for": FLOODER_IP},
                    )
                    statuses[response.status_code] += 1
                except httpx.HTTPError:
                    statuses[0] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def customer(url: str, turns: int, gap_s: float) -> dict[str, Any]:
    """One customer's turns, `gap_s` apart: their times (ms) and statuses."""
    times: list[float] = []
    statuses: Counter[int] = Counter()
    with httpx.Client(base_url=url, timeout=60) as http:
        for _ in range(turns):
            started = time.perf_counter()
            response = http.post(
                f"/api/v1/chat/{BRAND}",
                json={"user_id": uuid.uuid4().hex, "text": "hello"},
                headers={"x-forwarded-for": CUSTOMER_IP},
            )
            times.append((time.perf_counter() - started) * 1000)
            statuses[response.status_code] += 1
            time.sleep(max(0.0, gap_s - times[-1] / 1000))
    ordered = sorted(times)
    return {
        "turns": turns,
        "statuses": dict(statuses),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))], 1),
        "max_ms": round(ordered[-1], 1),
    }


def measure(turns: int, concurrency: int, gap_s: float) -> dict[str, Any]:
    from bot.engine.launcher import launch
    from bot.gateway.state import gateway_of
    from bot.settings import Settings
    from tests.stack import free_port

    seconds = turns * gap_s + 5
    with tempfile.TemporaryDirectory(prefix="candor-flood-") as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            run_dir=Path(tmp) / "run",
            gateway_port=free_port(),
            rasa_url=f"http://127.0.0.1:{free_port()}",
            purge_interval_s=0,
        )
        running = launch(settings)
        limits = gateway_of(running.gateway.app).limits
        url = settings.gateway_url
        try:
            customer(url, 5, gap_s)  # warm-up: model, flow cache, connections
            results: dict[str, Any] = {"baseline": customer(url, turns, gap_s)}
            for phase, enabled in (("flood, limits on", True), ("flood, limits off", False)):
                limits.enabled = enabled
                flooder = subprocess.Popen(
                    [sys.executable, __file__, "--flooder", url, str(concurrency), str(seconds)],
                    stdout=subprocess.PIPE,
                )
                time.sleep(2)  # let the flood build up first
                results[phase] = customer(url, turns, gap_s)
                out, _ = flooder.communicate(timeout=seconds + 120)
                results[phase]["flooder"] = json.loads(out)
                time.sleep(65)  # the flood's minute window passes before the next phase
        finally:
            running.stop()
    return {
        "turns": turns,
        "gap_s": gap_s,
        "flood_concurrency": concurrency,
        "limits": {
            name: getattr(settings, name)
            for name in ("limit_chat_ip", "limit_chat_customer", "limit_chat_brand")
        },
        "results": results,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--gap", type=float, default=0.25)
    parser.add_argument("--flooder", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flooder:
        url, concurrency, seconds = args.flooder
        statuses = asyncio.run(flood(url, int(concurrency), float(seconds)))
        print(json.dumps({str(k): v for k, v in sorted(statuses.items())}))
        return
    report = measure(args.turns, args.concurrency, args.gap)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'phase':<20} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  statuses / flooder")
    for phase, row in report["results"].items():
        print(
            f"{phase:<20} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}  "
            f"{row['statuses']} / {row.get('flooder', '-')}"
        )
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
