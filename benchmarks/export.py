"""Brand exports and the consent-ledger page on a large store (issue 16).

    .venv/bin/python benchmarks/export.py --sizes 100000                      # a quick run
    .venv/bin/python benchmarks/export.py --sizes 1000000                     # the target
    .venv/bin/python benchmarks/export.py --cases answers.csv --workers 1,auto --ledger no

Stores: the data-size benchmark's (`benchmarks/scaling.py`: the demo brand, the dashboard's
answer mix, every field encrypted with its subject's key, the ledger hash-chained), built by its
builder the first time and kept under ``--data-dir`` (default ``.candor/bench-data/scaling``,
shared with it).

Exports: ``GET /api/v1/brands/{brand}/export?layout=...&format=...`` through the real app
(routing, key check, streaming), called as ASGI in-process in a fresh child process per case;
the body is counted and hashed, not kept. Each case runs with ``workers=1`` (everything in the
serving process, as before issue 16) and ``auto`` (the default: worker processes, one per CPU,
past ``exports.POOL_MIN`` answers). Reported: wall time and answers a second (answers in force
over wall time), CPU seconds of the serving process and of its worker processes (read from the
fork server that starts them, which reaps them), peak RSS of the serving process, the body's
size and SHA-256 (the same for every worker count, or the run fails).

Ledger page: ``GET /api/v1/brands/{brand}/consents?limit=200`` in one child process: the first
request (cold: the whole chain walked), a second (warm: fingerprints only), after one consent
appended, and after one subject erased (their rows cleared in place and an erasure event
appended); and ``ledger.verify`` alone, what every request cost before. The store is a copy
(SQLite), deleted afterwards.

CPU is the steadier figure on a shared machine: the JSON keeps the 1-minute load average
before and after each child. Writes benchmarks/results/export.json.

``--reference FILE``: a results file of an earlier run on the same stores (the code before a
change); every case it holds must send the same bytes (SHA-256) again, or the run fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import answer_mix as mix  # noqa: E402
from benchmarks import scaling  # noqa: E402  (its store builder and ASGI client)

RESULTS = ROOT / "benchmarks" / "results" / "export.json"
BRAND = mix.BRAND
CASES = (
    "answers.csv",
    "answers.jsonl",
    "answers.json",
    "answers.parquet",
    "responses.csv",
    "responses.parquet",
)


# --- in the child ---------------------------------------------------------------------------


def _cpu_of(pid: int) -> float:
    """CPU seconds of a process and of the children it has reaped (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def _fork_server_cpu() -> float | None:
    """The export's worker processes are forked by multiprocessing's fork server, which reaps
    them: its children's CPU is theirs (a private attribute: a benchmark may read it)."""
    from multiprocessing import forkserver

    pid = getattr(forkserver._forkserver, "_forkserver_pid", None)
    if not pid:
        return None
    time.sleep(0.3)  # the workers have exited; let the server reap them
    return _cpu_of(pid)


def op_export(data_dir: Path, key: str, case: str, workers: str) -> dict[str, Any]:
    from sqlalchemy import func, select

    from bot.gateway.app import create_app
    from storage import exports
    from storage.schema import Answer

    if workers == "1":
        exports.POOL_MIN = 2**62  # never worth a worker process: all of it in this one
    layout, fmt = case.split(".")
    settings = mix.settings(data_dir)
    stores = settings.open_stores()
    app = create_app(settings, stores=stores)
    with stores.brand(BRAND) as session:
        answers = session.scalar(select(func.count()).select_from(Answer)) or 0
    base = scaling._rss_now_mb()
    with scaling._Clock() as clock:
        got = asyncio.run(
            scaling._asgi_get(
                app,
                f"/api/v1/brands/{BRAND}/export",
                f"format={fmt}&layout={layout}",
                {"authorization": f"Bearer {key}", "host": "127.0.0.1"},
            )
        )
    if got["status"] != 200:
        raise SystemExit(f"export answered {got['status']}")
    stores.dispose()
    return {
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "worker_cpu_s": _fork_server_cpu(),
        "answers_stored": answers,
        "answers_per_s": round(answers / clock.wall) if clock.wall else None,
        "rss_base_mb": base,
        **got,
    }


def op_ledger(data_dir: Path, key: str) -> dict[str, Any]:
    """The ledger page on a copy of the store: cold, warm, after an append, after an erasure."""
    from fastapi.testclient import TestClient

    from actions.consent_context import consent_context
    from actions.runtime import Runtime
    from bot.gateway.app import create_app
    from storage import ledger, records, rights

    settings = mix.settings(data_dir)
    stores = settings.open_stores()
    flow = Runtime(stores=stores, control_threshold=settings.control_threshold).flow(BRAND)
    out: dict[str, Any] = {}
    with stores.brand(BRAND) as session, scaling._Clock() as clock:
        events, problems = ledger.verify(session)
    assert not problems, problems[:3]
    out["events"] = events
    out["verify"] = {"wall_s": clock.wall, "cpu_s": clock.cpu}
    app = create_app(settings, stores=stores)
    headers = {"authorization": f"Bearer {key}"}
    with TestClient(app) as client:

        def page(name: str) -> None:
            with scaling._Clock() as clock:
                response = client.get(f"/api/v1/brands/{BRAND}/consents?limit=200", headers=headers)
            chain = response.json()["chain"]
            assert response.status_code == 200, response.text
            assert chain["intact"], chain
            out[name] = {"wall_s": clock.wall, "cpu_s": clock.cpu, "events": chain["events"]}

        page("page_cold")
        page("page_warm")
        ctx = consent_context(
            flow, "needs", step_id="consent_needs", channel="web", method="button"
        )
        with stores.brand(BRAND) as session:
            records.ensure_subject(session, subject_id="bench-new", channel="web")
            records.record_consent(session, subject_id="bench-new", event="given", ctx=ctx)
            session.commit()
        page("page_after_append")
        with stores.brand(BRAND) as session:
            erased = rights.erase_subject(
                session, stores.keyring(BRAND), subject_id="bench-0000100"
            )
            session.commit()
        out["erased_events"] = erased.consent_events
        page("page_after_erasure")
    stores.dispose()
    return out


def run_op(args: argparse.Namespace) -> dict[str, Any]:
    if args.op == "ledger":
        out = op_ledger(args.data_dir, args.key)
    else:
        out = op_export(args.data_dir, args.key, args.op, args.workers)
    out["peak_rss_mb"] = mix.peak_rss_mb()
    return out


# --- the parent -----------------------------------------------------------------------------


def _child(args: list[str]) -> dict[str, Any]:
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr[-4000:])
        raise SystemExit(f"{args} failed")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    out: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    out["child_total_cpu_s"] = round(
        after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2
    )
    out["load_1m"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def _digests(path: Path) -> dict[tuple[str, str], str]:
    """(size, case) -> SHA-256 of the body, from a results file."""
    found: dict[tuple[str, str], str] = {}
    for size, entry in json.loads(path.read_text())["sizes"].items():
        for name, got in entry.get("exports", {}).items():
            found[(size, name.split(" ")[0])] = got["sha256"]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--data-dir", type=Path, default=scaling.DATA, help="built stores, kept")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--cases", default=",".join(CASES), help="layout.format, comma-separated")
    parser.add_argument(
        "--workers", default="1,auto", help="comma-separated: 1 (one process), auto (workers)"
    )
    parser.add_argument("--ledger", choices=("yes", "no"), default="yes")
    parser.add_argument("--reference", type=Path, help="an earlier results file: same bytes")
    parser.add_argument("--op", help=argparse.SUPPRESS)  # internal: the child process
    parser.add_argument("--key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.op:
        print(json.dumps(run_op(args)))
        return
    cases = [c for c in args.cases.split(",") if c]
    unknown = set(cases) - set(CASES)
    if unknown:
        sys.exit(f"unknown cases {sorted(unknown)}; choose from {CASES}")
    result: dict[str, Any] = {
        "command": "benchmarks/export.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "sizes": {},
    }
    reference = _digests(args.reference) if args.reference else {}
    for size in [int(s) for s in args.sizes.split(",")]:
        store = args.data_dir / str(size)
        built = scaling._built(store, size, postgres=False)
        entry: dict[str, Any] = {k: v for k, v in built.items() if k != "key"}
        result["sizes"][str(size)] = entry
        entry["exports"] = {}
        for case in cases:
            digests = set()
            for workers in args.workers.split(","):
                print(f"{size:,} {case} workers={workers} ...", end="", flush=True)
                options = ["--op", case, "--key", built["key"], "--workers", workers]
                got = _child(["--data-dir", str(store), *options])
                entry["exports"][f"{case} workers={workers}"] = got
                digests.add(got["sha256"])
                print(
                    f" {got['wall_s']:.2f} s, {got['answers_per_s']:,}/s, CPU {got['cpu_s']:.1f} s"
                )
            if len(digests) != 1:
                sys.exit(f"{case}: the worker counts sent different bytes")
            expected = reference.get((str(size), case))
            if expected is not None and digests != {expected}:
                sys.exit(f"{size:,} {case}: not the bytes of {args.reference}")
        if args.ledger == "yes":
            scratch = args.data_dir / f"scratch-export-{size}"
            if scratch.exists():
                shutil.rmtree(scratch)
            shutil.copytree(store, scratch)
            try:
                print(f"{size:,} ledger page ...", end="", flush=True)
                entry["ledger"] = _child(
                    ["--data-dir", str(scratch), "--op", "ledger", "--key", built["key"]]
                )
                ledger = entry["ledger"]
                print(
                    f" verify {ledger['verify']['cpu_s']:.2f} s CPU; page cold "
                    f"{ledger['page_cold']['cpu_s']:.2f}, warm {ledger['page_warm']['cpu_s']:.2f},"
                    f" after an erasure {ledger['page_after_erasure']['cpu_s']:.2f} s CPU"
                )
            finally:
                shutil.rmtree(scratch)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
