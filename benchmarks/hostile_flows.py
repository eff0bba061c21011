"""Worst-case time and peak memory of refusing each hostile flow (tests/hostile/corpus.py).

Each input is loaded in a fresh child process, `--repeat` times, so one input's memory cannot
hide in another's; a child is capped (`--max-mb` address space, `--timeout` seconds) so a
regression shows as KILLED instead of taking the machine down. Reported per input: the slowest
load (wall seconds), the child's peak RSS and the part of it above the child's RSS after imports,
and how the loader answered.

    .venv/bin/python benchmarks/hostile_flows.py [--repeat 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def one(name: str) -> dict[str, Any]:
    """Run in the child: load one input once and measure it."""
    sys.path.insert(0, str(ROOT))
    from consent_flows.loader import FlowInvalid, load_flow_text
    from tests.hostile.corpus import BY_NAME

    data = BY_NAME[name].data
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        load_flow_text(data)
        outcome = "ACCEPTED"
    except FlowInvalid as exc:
        first = exc.errors[0]
        outcome = f"refused {first.line}:{first.column} {first.message[:70]}"
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "bytes": len(data),
        "seconds": seconds,
        "peak_rss_mb": peak_kb / 1024,
        "added_rss_mb": (peak_kb - base_kb) / 1024,
        "outcome": outcome,
    }


def measure(name: str, *, timeout: float, max_mb: int) -> dict[str, Any]:
    def cap() -> None:
        limit = max_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    try:
        done = subprocess.run(
            [sys.executable, __file__, "--one", name],
            capture_output=True,
            text=True,
            timeout=timeout,
            preexec_fn=cap,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"outcome": f"KILLED after {timeout:.0f} s", "seconds": timeout}
    if done.returncode != 0:
        return {"outcome": f"CRASHED ({done.stderr.strip().splitlines()[-1:]})", "seconds": 0.0}
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--max-mb", type=int, default=2048)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one)))
        return
    sys.path.insert(0, str(ROOT))
    from tests.hostile.corpus import CASES

    rows = []
    for case in CASES:
        runs = [
            measure(case.name, timeout=args.timeout, max_mb=args.max_mb)
            for _ in range(max(1, args.repeat))
        ]
        worst = max(runs, key=lambda r: r["seconds"])
        worst["peak_rss_mb"] = max(r.get("peak_rss_mb", 0.0) for r in runs)
        worst["added_rss_mb"] = max(r.get("added_rss_mb", 0.0) for r in runs)
        rows.append({"input": case.name, **worst})
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"| Input | Bytes | Worst s | Peak RSS MB | Added MB | Outcome |\n|{'---|' * 6}")
    for r in rows:
        print(
            f"| {r['input']} | {r.get('bytes', '')} | {r['seconds']:.3f} | "
            f"{r.get('peak_rss_mb', 0):.0f} | {r.get('added_rss_mb', 0):.1f} | {r['outcome']} |"
        )
    slowest = max(rows, key=lambda r: r["seconds"])
    biggest = max(rows, key=lambda r: r.get("added_rss_mb", 0.0))
    print(
        f"\nworst time: {slowest['input']} {slowest['seconds']:.3f} s; "
        f"most memory: {biggest['input']} +{biggest.get('added_rss_mb', 0):.1f} MB "
        f"({len(rows)} inputs, {args.repeat} runs each)"
    )


if __name__ == "__main__":
    main()
