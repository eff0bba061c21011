"""Data-size scaling (issue 8): export, erasure, retention purge, themes and the dashboard
at 10k, 100k and 1M stored answers in one brand's store.

    .venv/bin/python benchmarks/scaling.py                                 # 10k, 100k, 1M
    .venv/bin/python benchmarks/scaling.py --sizes 10000,100000            # a quicker run
    .venv/bin/python benchmarks/scaling.py --ops export_json,erase         # some operations

Build (once per size; kept under ``--data-dir``, default ``.candor/bench-data/scaling``, and
reused by later runs): the demo brand (trailhead-outfitters, its flow and segments) with the
same mix of answers as ``benchmarks/dashboard.py`` (about answers / 19 subjects, four
conversations each, 40% free text, 20% emotions, 70% consent to segmentation), every verbatim
and value encrypted with its subject's own data key. Unlike the dashboard builder, it writes in
bulk: data keys are generated, wrapped and inserted a thousand at a time, and consent events
are built and hash-chained by the ledger's own ``chained_event`` (what ``ledger.append`` writes)
and bulk-inserted (``ledger.verify`` checks the whole chain after the build). Each subject is
active for two weeks, starting at a random moment of the 405 days before 2026-11-23, so that
about 10% of answers are older than the 365-day retention of ``needs`` and ``frustrations``.

Measure: every operation runs in its own fresh child process, so its peak RSS (``ru_maxrss``)
is its own; ``rss_base_mb`` is the child's RSS after imports and opening the store, before the
operation. Wall and CPU seconds of the operation itself (not the imports) are reported.

- ``export_json`` / ``export_csv``: ``GET /api/v1/brands/{brand}/export`` through the real
  FastAPI app (routing, key check), called as ASGI in-process; the body is counted and hashed,
  not kept, so the figure is the server's cost. The body's SHA-256 shows that an optimisation
  left the output byte for byte the same.
- ``erase``: ``rights.erase_subject`` + commit + ``tracker_events.delete_subject`` (as the API
  route does) for 5 subjects spread through the store, one at a time; the tracker store is
  empty here (no Rasa engine ran), so that part costs only a table check.
- ``purge_10pct``: ``housekeeping.purge_all`` with the clock set so that 10% of answers are
  past retention (and the consents given before each purpose's cutoff expire);
  ``purge_noop``: the same purge again an hour later, when nothing new is due (the steady
  state of the hourly purge).
- ``themes``: what the report does for themes: the newest 20,000 free-text answers, decrypted
  (keys preloaded), then ``find_themes``; spaCy is loaded before the clock starts.
- ``dashboard``: ``insights.compute(fresh=True)``, the whole report (segments, funnel, consent
  rates, themes, emotions), cold (first of the process, imports spaCy and scikit-learn) and
  again warm.

Erasure and purge change the store, so (SQLite) they run on a copy of it that is deleted
afterwards. On PostgreSQL (``CANDOR_DATABASE_URL``) each build gets its own schema prefix
(``CANDOR_SCHEMA_PREFIX``, kept in the store's manifest), the read-only operations run first,
then erasure, the 10% purge and the no-op purge on the store itself (both purges use the moment
computed at build time), and the store is rebuilt, under a new prefix, next time; drop the used
schemas by hand.

Prints a table and writes benchmarks/results/scaling.json, with the log-log slope of time vs
size per operation (1 = linear) and the 1-minute load average before and after each child.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import answer_mix as mix  # noqa: E402  (the dashboard benchmark's answer mix)

RESULTS = ROOT / "benchmarks" / "results" / "scaling.json"
DATA = ROOT / ".candor" / "bench-data" / "scaling"
BRAND = mix.BRAND
END = mix.END
SPAN_DAYS = 405  # each subject starts somewhere in these days before END
ACTIVE_DAYS = 14  # and has their four conversations within this many days
CHUNK = 1000  # subjects per transaction
OPS = ("export_json", "export_csv", "erase", "themes", "dashboard", "purge_10pct", "purge_noop")
READ_ONLY = ("export_json", "export_csv", "themes", "dashboard")
ERASE_N = 5


def _rss_now_mb() -> float:
    with open("/proc/self/statm") as f:
        return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def _mb(n: int) -> float:
    return round(n / 2**20, 1)


# --- build ----------------------------------------------------------------------------------


def build(data_dir: Path, answers: int, seed: int = 8) -> dict[str, Any]:
    """Create the brand and write ``answers`` answers in bulk; returns sizes and the key."""
    from sqlalchemy import func, insert, select

    from actions.consent_context import consent_context
    from bot.brands import AUDIENCES, create_brand, publish_audiences
    from bot.settings import ROOT as REPO
    from storage import ledger
    from storage.schema import (
        Answer,
        ConsentEvent,
        FunnelCount,
        LedgerHead,
        Subject,
        SubjectTag,
    )

    started = time.perf_counter()
    settings = mix.settings(data_dir)
    stores = settings.open_stores()
    flow, key = create_brand(stores, REPO / "consent_flows" / "examples" / f"{BRAND}.yaml")
    publish_audiences(stores, AUDIENCES)
    keyring = stores.keyring(BRAND)
    answer_rows = mix.AnswerRows(keyring, flow)
    contexts = {
        p: consent_context(flow, p, step_id=f"consent_{p}", channel="web", method="button")
        for p in flow.purposes
    }
    rng = random.Random(seed)
    with stores.brand(BRAND) as session:
        chain = _Chain(session.get(LedgerHead, 1), contexts, rng)

    written = subjects = events = 0
    while written < answers:
        # A chunk's keys in one insert (`Keyring.create_keys`); the last chunk may leave a few
        # keys without answers, as a subject who consented and left would.
        chunk = [f"bench-{n:07d}" for n in range(subjects, subjects + CHUNK)]
        keyring.create_keys(chunk)
        # The brand store's rows of this chunk, by table, in the order they can be inserted.
        batch: dict[Any, list[dict[str, Any]]] = {
            table: [] for table in (Subject, ConsentEvent, Answer, SubjectTag)
        }
        for _ in range(CHUNK):
            if written >= answers:
                break
            subject = f"bench-{subjects:07d}"
            subjects += 1
            start = END - timedelta(days=rng.random() * SPAN_DAYS)
            batch[Subject].append(
                {
                    "subject_id": subject,
                    "channel": "web",
                    "objects_to_profiling": rng.random() < 0.01,
                    "created_at": start,
                }
            )
            consents, given = _consents(chain, rng, subject, start)
            batch[ConsentEvent] += consents
            events += len(consents)
            activity = rng.choice(mix.ACTIVITIES)
            if activity == "running":
                batch[SubjectTag].append(
                    mix.runner_tag(flow, subject, given["needs"], created_at=start)
                )
            room = answers - written
            answered = _answers(answer_rows, rng, subject, activity, start, given, room)
            batch[Answer] += answered
            written += len(answered)
        with stores.brand(BRAND) as session:
            for table, rows in batch.items():
                if rows:
                    session.execute(insert(table), rows)
            chain.save(session)
            session.commit()
        keyring.forget_keys()
        print(f"\r  built {written:,} / {answers:,} answers", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    with stores.brand(BRAND) as session:
        session.execute(insert(FunnelCount), answer_rows.funnel_rows())
        session.commit()
        stored = session.scalar(select(func.count()).select_from(Answer))
        build_s = time.perf_counter() - started
        checked, problems = ledger.verify(session)
    stores.dispose()
    if problems or checked != events:
        sys.exit(f"the built ledger does not verify: {checked} events, {problems[:3]}")
    return {
        "answers": stored,
        "subjects": subjects,
        "consent_events": events,
        "key": key,
        "build_s": round(build_s, 1),
        # SQLite files only: a PostgreSQL store is schemas in the server's own files.
        "store_mb": None if stores.dialect == "postgresql" else _mb(mix.store_bytes(data_dir)),
    }


class _Chain:
    """Consent events hash-chained by the ledger's own `chained_event` (what `ledger.append`
    writes, every column included), continuing from the ledger's head, for a bulk insert."""

    def __init__(self, head: Any, contexts: dict[str, Any], rng: random.Random) -> None:
        from storage import ledger

        self.seq: int = head.seq if head else 0
        self.prev: str = head.hash if head else ledger.GENESIS
        self.contexts, self.rng = contexts, rng

    def event(self, subject: str, event: str, purpose: str, when: datetime) -> dict[str, Any]:
        from storage import ledger

        record_id = f"{self.rng.getrandbits(128):032x}"
        record_id = "-".join(
            (record_id[:8], record_id[8:12], record_id[12:16], record_id[16:20], record_id[20:])
        )
        self.seq += 1
        row = ledger.chained_event(
            self.seq, self.prev, subject, event, self.contexts[purpose], when, record_id=record_id
        )
        self.prev = row["hash"]
        return row

    def save(self, session: Any) -> None:
        """Move the ledger's head to the last event built (inserted in the same transaction)."""
        from storage.schema import LedgerHead

        head = session.get(LedgerHead, 1)
        if head is None:
            session.add(LedgerHead(id=1, seq=self.seq, hash=self.prev))
        else:
            head.seq, head.hash = self.seq, self.prev


def _consents(
    chain: _Chain, rng: random.Random, subject: str, start: datetime
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """One subject's consent events, and the id of each given consent by purpose."""
    rows: list[dict[str, Any]] = []
    given: dict[str, int] = {}
    for i, (purpose, decision) in enumerate(mix.consent_decisions(rng).items()):
        at = start + timedelta(seconds=10 * i)
        rows.append(chain.event(subject, "requested", purpose, at))
        rows.append(chain.event(subject, decision, purpose, at))
        if decision == "given":
            given[purpose] = rows[-1]["id"]
    if "tailored_content" in given and rng.random() < 0.05:
        at = start + timedelta(days=rng.random() * ACTIVE_DAYS)
        rows.append(chain.event(subject, "withdrawn", "tailored_content", at))
    return rows, given


def _answers(
    answer_rows: mix.AnswerRows,
    rng: random.Random,
    subject: str,
    activity: str,
    start: datetime,
    given: dict[str, int],
    room: int,
) -> list[dict[str, Any]]:
    """One subject's conversations, each within ACTIVE_DAYS of `start`; at most `room` rows."""
    rows: list[dict[str, Any]] = []
    for c in range(mix.CONVERSATIONS):
        conversation = f"{BRAND}:web:{subject}:c{c}"
        when = min(END, start + timedelta(seconds=60 + rng.random() * ACTIVE_DAYS * 86400))
        survey = mix.conversation(rng, activity, frustrations="frustrations" in given)
        for n, answer in enumerate(survey):
            if len(rows) >= room:
                break
            rows.append(
                answer_rows.row(
                    subject,
                    conversation,
                    answer,
                    when=when + timedelta(seconds=20 * n),
                    consent_event_id=given[answer[3]],
                )
            )
    return rows


# --- operations (each in a fresh child process) -------------------------------------------


class _Clock:
    def __enter__(self) -> _Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


async def _asgi_get(app: Any, path: str, query: str, headers: dict[str, str]) -> dict[str, Any]:
    """One GET through the ASGI app; the body is counted and hashed, never kept."""
    digest, size, status, chunks = hashlib.sha256(), 0, 0, 0
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal size, status, chunks
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            digest.update(body)
            size += len(body)
            chunks += 1 if body else 0

    await app(scope, receive, send)
    return {"status": status, "bytes": size, "sha256": digest.hexdigest(), "chunks": chunks}


def op_export(data_dir: Path, key: str, fmt: str) -> dict[str, Any]:
    from bot.gateway.app import create_app

    settings = mix.settings(data_dir)
    stores = settings.open_stores()
    app = create_app(settings, stores=stores)
    stores.brand_engine(BRAND)
    base = _rss_now_mb()
    with _Clock() as clock:
        got = asyncio.run(
            _asgi_get(
                app,
                f"/api/v1/brands/{BRAND}/export",
                f"format={fmt}",
                {"authorization": f"Bearer {key}", "host": "127.0.0.1"},
            )
        )
    if got["status"] != 200:
        raise SystemExit(f"export answered {got['status']}")
    stores.dispose()
    return {"wall_s": clock.wall, "cpu_s": clock.cpu, "rss_base_mb": base, **got}


def _erase_subjects(stores: Any, n: int) -> list[str]:
    from sqlalchemy import func, select

    from storage.schema import Subject

    with stores.brand(BRAND) as session:
        total = session.scalar(select(func.count()).select_from(Subject))
    picks = [int(total * (i + 0.5) / n) for i in range(n)]
    return [f"bench-{p:07d}" for p in picks]


def op_erase(data_dir: Path, key: str) -> dict[str, Any]:
    from storage import rights, tracker_events
    from storage.schema import Subject

    settings = mix.settings(data_dir)
    stores = settings.open_stores()
    tracker = stores.tracker_engine()
    stores.brand_engine(BRAND)
    stores.key_engine(BRAND)
    subjects = _erase_subjects(stores, ERASE_N)
    base = _rss_now_mb()
    times, cpus, answers, tracker_s = [], [], [], []
    for subject in subjects:
        with _Clock() as clock:
            with stores.brand(BRAND) as session:  # as DELETE /subjects/{subject} does
                assert session.get(Subject, subject) is not None
                erased = rights.erase_subject(session, stores.keyring(BRAND), subject_id=subject)
                session.commit()
            started = time.perf_counter()
            tracker_events.delete_subject(tracker, brand=BRAND, subject_id=subject)
            tracker_s.append(time.perf_counter() - started)
        assert erased.key
        assert erased.subject == 1
        times.append(clock.wall)
        cpus.append(clock.cpu)
        answers.append(erased.answers)
    stores.dispose()
    return {
        "wall_s": statistics.median(times),
        "cpu_s": statistics.median(cpus),
        "first_s": times[0],
        "max_s": max(times),
        "tracker_s": statistics.median(tracker_s),
        "answers_per_subject": answers,
        "rss_base_mb": base,
    }


def _runtime(data_dir: Path) -> tuple[Any, Any]:
    from actions.runtime import Runtime

    settings = mix.settings(data_dir)
    stores = settings.open_stores()
    stores.brand_engine(BRAND)
    stores.key_engine(BRAND)
    return stores, Runtime(stores=stores, control_threshold=settings.control_threshold)


def _purge_now(stores: Any, runtime: Any) -> datetime:
    """The moment at which 10% of the answers are past their 365-day retention."""
    from sqlalchemy import func, select

    from storage.schema import Answer

    flow = runtime.flow(BRAND)
    days = {flow.purposes[p].retention_days for p in ("needs", "frustrations")}
    assert days == {365}, days
    with stores.brand(BRAND) as session:
        total = session.scalar(select(func.count()).select_from(Answer))
        cutoff = session.scalar(
            select(Answer.updated_at).order_by(Answer.updated_at).offset(total // 10).limit(1)
        )
    cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    return cutoff + timedelta(days=365)


def op_purge(data_dir: Path, key: str, noop: bool) -> dict[str, Any]:
    from sqlalchemy import func, select

    from bot.gateway.housekeeping import purge_all
    from storage.schema import Answer

    stores, runtime = _runtime(data_dir)
    given = os.environ.get("SCALING_PURGE_NOW")  # the build's, so that a second purge agrees
    now = datetime.fromisoformat(given) if given else _purge_now(stores, runtime)
    with stores.brand(BRAND) as session:
        before = session.scalar(select(func.count()).select_from(Answer))
    out: dict[str, Any] = {"now": now.isoformat(timespec="seconds")}
    if noop:  # not timed: the 10% purge (nothing left to do if it already ran here)
        first = purge_all(stores, runtime, now=now)[BRAND]
        now += timedelta(hours=1)
        out["setup"] = {"answers": first.answers, "expired_consents": first.expired_consents}
    base = _rss_now_mb()
    with _Clock() as clock:
        done = purge_all(stores, runtime, now=now)[BRAND]
    stores.dispose()
    return {
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "rss_base_mb": base,
        "answers_before": before,
        "answers_deleted": done.answers,
        "tags_deleted": done.tags,
        "consents_expired": done.expired_consents,
        **out,
    }


def op_themes(data_dir: Path, key: str) -> dict[str, Any]:
    from nlu.analysis.pii import redact
    from nlu.analysis.themes import find_themes
    from storage import heard, records
    from storage.schema import Answer

    stores, _ = _runtime(data_dir)
    redact("warm up the spaCy pipeline, Sam")  # as benchmarks/analysis.py: model load not timed
    base = _rss_now_mb()
    from sqlalchemy import select

    with _Clock() as clock:
        keyring = stores.keyring(BRAND)
        keyring.preload()
        rows = Answer.__table__
        with stores.brand(BRAND) as session:
            free_text = session.execute(
                select(rows)
                .where(rows.c.ask_type == "free_text")
                .order_by(rows.c.id.desc())
                .limit(heard.THEME_SAMPLE)
            )
            texts = [v.verbatim for v in heard.readable(records.view, free_text, keyring)]
        read_s = time.perf_counter() - clock.wall
        themes = find_themes(texts)
    stores.dispose()
    return {
        "wall_s": clock.wall,
        "cpu_s": clock.cpu,
        "read_s": read_s,
        "verbatims": len(texts),
        "themes": len(themes),
        "rss_base_mb": base,
    }


def op_dashboard(data_dir: Path, key: str) -> dict[str, Any]:
    from storage import insights

    stores, runtime = _runtime(data_dir)
    base = _rss_now_mb()
    with _Clock() as cold:
        report = insights.compute(runtime.audiences, BRAND, fresh=True)
    with _Clock() as warm:
        insights.compute(runtime.audiences, BRAND, fresh=True)
    stores.dispose()
    return {
        "wall_s": cold.wall,
        "cpu_s": cold.cpu,
        "warm_s": warm.wall,
        "warm_cpu_s": warm.cpu,
        "rss_base_mb": base,
        "answers": report["totals"]["answers"],
        "themes": len(report["themes"]),
    }


def run_op(op: str, data_dir: Path, key: str) -> dict[str, Any]:
    if op.startswith("export_"):
        out = op_export(data_dir, key, op.removeprefix("export_"))
    elif op == "erase":
        out = op_erase(data_dir, key)
    elif op.startswith("purge_"):
        out = op_purge(data_dir, key, noop=op == "purge_noop")
    elif op == "themes":
        out = op_themes(data_dir, key)
    elif op == "dashboard":
        out = op_dashboard(data_dir, key)
    else:
        raise SystemExit(f"unknown operation {op}")
    out["peak_rss_mb"] = mix.peak_rss_mb()
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


# --- main -----------------------------------------------------------------------------------


def _purge_time(data_dir: Path) -> str:
    stores, runtime = _runtime(data_dir)
    try:
        return _purge_now(stores, runtime).isoformat()
    finally:
        stores.dispose()


def _child(op: str, data_dir: Path, key: str, purge_now: str | None = None) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if purge_now:
        env["SCALING_PURGE_NOW"] = purge_now
    child = subprocess.run(
        [sys.executable, __file__, "--data-dir", str(data_dir), "--op", op, "--key", key],
        capture_output=True,
        text=True,
        env=env,
    )
    if child.returncode != 0:
        sys.stderr.write(child.stderr[-4000:])
        raise SystemExit(f"{op} failed in {data_dir}")
    out = json.loads(child.stdout.strip().splitlines()[-1])
    out["load_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return out


def _slope(points: list[tuple[int, float]]) -> float | None:
    """Least-squares slope of log(time) against log(size): 1 is linear, 0 is flat."""
    pts = [(math.log(n), math.log(t)) for n, t in points if t > 0]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return round(sum((x - mx) * (y - my) for x, y in pts) / sxx, 2) if sxx else None


def _growth(points: list[tuple[int, float]]) -> dict[str, Any]:
    """The fitted exponent over every size, and between each pair of neighbouring sizes (fixed
    costs such as imports flatten the small end)."""
    points = sorted(points)
    out: dict[str, Any] = {"time_exponent": _slope(points)}
    for a, b in itertools.pairwise(points):
        out[f"exponent_{a[0]}_{b[0]}"] = _slope([a, b])
    return out


def _fmt_s(s: float) -> str:
    return f"{s * 1000:.1f} ms" if s < 1 else f"{s:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="built stores, kept")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument("--ops", default=",".join(OPS), help="comma-separated operations")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--op", help=argparse.SUPPRESS)  # internal: the child process
    parser.add_argument("--key", help=argparse.SUPPRESS)
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.op:
        print(json.dumps(run_op(args.op, args.data_dir, args.key)))
        return
    if args.build:
        built = build(args.data_dir, args.build)
        built["purge_now"] = _purge_time(args.data_dir)
        print(json.dumps(built))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    ops = [o for o in args.ops.split(",") if o]
    unknown = set(ops) - set(OPS)
    if unknown:
        sys.exit(f"unknown operations: {sorted(unknown)}; choose from {OPS}")
    postgres = bool(os.environ.get("CANDOR_DATABASE_URL"))
    result: dict[str, Any] = {
        "command": "benchmarks/scaling.py " + " ".join(sys.argv[1:]),
        "backend": "postgresql" if postgres else "sqlite",
        "sizes": {},
        "growth": {},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    for size in sizes:
        store = args.data_dir / (f"pg-{size}" if postgres else f"{size}")
        built = _built(store, size, postgres)
        entry = {k: v for k, v in built.items() if k != "key"}
        entry["ops"] = {}
        result["sizes"][str(size)] = entry
        if not args.build_only:
            _measure(entry["ops"], ops, store, built, postgres, args.data_dir / f"scratch-{size}")
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    loads = [x for e in result["sizes"].values() for o in e["ops"].values() for x in o["load_1m"]]
    result["machine"]["contended"] = bool(loads) and max(loads) > 1.5
    for op in ops:
        points = [
            (int(n), e["ops"][op]["wall_s"]) for n, e in result["sizes"].items() if op in e["ops"]
        ]
        result["growth"][op] = _growth(points)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    _print_table(result, ops)
    print(f"load average max {max(loads, default=0):.2f}; wrote {args.out}")


def _built(store: Path, size: int, postgres: bool) -> dict[str, Any]:
    """The manifest of the store of `size` answers, built first (in a child) if missing."""
    manifest = store / "bench-store.json"
    built = json.loads(manifest.read_text()) if manifest.exists() else None
    if postgres:  # a schema prefix per build: a used store is never built over
        os.environ["CANDOR_SCHEMA_PREFIX"] = (
            built["pg_prefix"] if built else f"sc{size}_{int(time.time()) % 10**6}_"
        )
    if built is not None:
        print(f"reusing {store} ({built['answers']:,} answers)")
        return built
    if store.exists():
        shutil.rmtree(store)
    print(f"building {size:,} answers in {store} ...")
    # In a child too: a child's ru_maxrss starts at its parent's RSS when it forks.
    child = subprocess.run(
        [sys.executable, __file__, "--data-dir", str(store), "--build", str(size)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    built = json.loads(child.stdout.strip().splitlines()[-1])
    if postgres:
        built["pg_prefix"] = os.environ["CANDOR_SCHEMA_PREFIX"]
    manifest.write_text(json.dumps(built))
    print(f"  built in {built['build_s']} s, {built['store_mb']} MB")
    return built


def _measure(
    out: dict[str, Any],
    ops: list[str],
    store: Path,
    built: dict[str, Any],
    postgres: bool,
    scratch_dir: Path,
) -> None:
    """Each operation in its own child: the read-only ones on the store, the others on a copy
    (SQLite) or on the store itself, which is then rebuilt next time (PostgreSQL)."""
    manifest = store / "bench-store.json"
    for op in [o for o in ops if o in READ_ONLY]:
        print(f"  {op} ...", end="", flush=True)
        out[op] = _child(op, store, built["key"])
        print(f" {_fmt_s(out[op]['wall_s'])}")
    for op in [o for o in ops if o not in READ_ONLY]:
        scratch = store
        if not postgres:
            scratch = scratch_dir
            if scratch.exists():
                shutil.rmtree(scratch)
            shutil.copytree(store, scratch)
        elif manifest.exists():  # erasure first, then the 10% purge, then the no-op one
            manifest.unlink()
            print(f"  (PostgreSQL: schemas {built['pg_prefix']}* are used up; drop them)")
        try:
            print(f"  {op} ...", end="", flush=True)
            out[op] = _child(op, scratch, built["key"], built.get("purge_now"))
            print(f" {_fmt_s(out[op]['wall_s'])}")
        finally:
            if scratch != store:
                shutil.rmtree(scratch)


def _print_table(result: dict[str, Any], ops: list[str]) -> None:
    header = ["operation", *(f"{int(n):,}" for n in result["sizes"]), "exponent"]
    table = [header]
    for op in ops:
        row = [op]
        for e in result["sizes"].values():
            got = e["ops"].get(op)
            row.append(f"{_fmt_s(got['wall_s'])}, {got['peak_rss_mb']:.0f} MB" if got else "-")
        row.append(str(result["growth"][op]["time_exponent"]))
        table.append(row)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for r in table:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
