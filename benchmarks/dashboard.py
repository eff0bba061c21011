"""Dashboard load time on a brand with a million answers (issue 6, "Performance").

    .venv/bin/python benchmarks/dashboard.py                       # 1,000,000 answers
    .venv/bin/python benchmarks/dashboard.py --answers 100000      # a quicker run
    .venv/bin/python benchmarks/dashboard.py --data-dir /tmp/dash  # keep the store; a second
                                                                   # run with it measures again

Build: the demo brand (trailhead-outfitters, its flow and segments) with ``--answers`` answers
from about answers / 19 subjects, each taking the survey four times (five questions a
conversation). Consent events go through the real hash-chained ledger; answers are bulk-inserted
with SQLAlchemy Core in batches, each verbatim and value encrypted with the subject's own data
key (``Keyring.encrypt``), exactly as the storage code stores them. 40% of answers are free
text, 20% emotions, spread over 26 weeks; 70% of subjects consent to segmentation.

Measure, in a fresh child process that serves the gateway (uvicorn in a thread, as in the tests):

- ``cold``: the process's first ``GET /api/v1/brands/{brand}/insights?fresh=true`` (imports
  spaCy and scikit-learn, unwraps every subject key, decrypts, clusters the themes);
- ``fresh``: the same again in the warm process (what "Recompute now" costs a brand);
- ``filtered``: two filtered views as the dashboard asks for them when a filter changes (no
  ``fresh``; not in the report cache, so computed; segments from their one-minute cache): the
  web channel over the last four weeks (``?channel=web&since=...``) and one segment
  (``?segment=runners``);
- ``cached``: ``GET .../insights`` answered from the 5-minute report cache (median of 5);
- ``page``: the page, its script, style sheet and Chart.js;
- ``browser``: headless Chromium from navigation to the charts drawn, server cache warm
  (skipped without /usr/bin/chromium);
- ``segments_only``: the segment computation (``audiences.compute``) alone, without HTTP;
- peak RSS of that process (gateway and client; Chromium excluded).

Before measuring, a child process brings the store's kept segment facts up to date
(``storage.subject_facts``: what the first report after the migration does, once, on a store
built or upgraded without them) and reports how long that took as ``facts_backfill_s`` (about
0 on a store measured before).

Wall and CPU time of the gateway process are both reported: on a shared machine the CPU time is
the steadier figure (the server and the client share the process; the client's part is tiny).

Set CANDOR_DATABASE_URL to measure on PostgreSQL instead of the embedded SQLite. Prints a table
and writes benchmarks/results/dashboard.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import answer_mix as mix  # noqa: E402  (the answer mix scaling.py builds too)

RESULTS = ROOT / "benchmarks" / "results" / "dashboard.json"
BRAND = mix.BRAND
CHROMIUM = Path("/usr/bin/chromium")
WEEKS = 26
CHUNK = 1000  # subjects per transaction


# --- build ----------------------------------------------------------------------------------


def build(data_dir: Path, answers: int, seed: int = 6) -> dict[str, Any]:
    """Create the brand and write ``answers`` answers; returns sizes, the key and timings."""
    from sqlalchemy import func, insert, select

    from actions.consent_context import consent_context
    from bot.brands import AUDIENCES, create_brand, publish_audiences
    from bot.settings import ROOT as REPO
    from storage.schema import Answer, FunnelCount, Subject, SubjectTag

    started = time.perf_counter()
    settings = mix.settings(data_dir)
    stores = settings.open_stores()
    flow, key = create_brand(stores, REPO / "consent_flows" / "examples" / f"{BRAND}.yaml")
    publish_audiences(stores, AUDIENCES)
    answer_rows = mix.AnswerRows(stores.keyring(BRAND), flow)
    contexts = {
        p: consent_context(flow, p, step_id=f"consent_{p}", channel="web", method="button")
        for p in flow.purposes
    }
    rng = random.Random(seed)
    written = subjects = events = 0
    span = timedelta(weeks=WEEKS).total_seconds()

    while written < answers:
        with stores.brand(BRAND) as session:
            rows: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            for _ in range(CHUNK):
                if written >= answers:
                    break
                subject = f"bench-{subjects:07d}"
                subjects += 1
                objects = rng.random() < 0.01  # Art. 21: left out of every segment
                session.execute(
                    insert(Subject),
                    [{"subject_id": subject, "channel": "web", "objects_to_profiling": objects}],
                )
                given, appended = _consents(session, subject, rng, contexts)
                events += appended
                activity = rng.choice(mix.ACTIVITIES)
                if activity == "running":
                    tags.append(mix.runner_tag(flow, subject, given["needs"]))
                for c in range(mix.CONVERSATIONS):
                    conversation = f"{BRAND}:web:{subject}:c{c}"
                    survey = mix.conversation(rng, activity, frustrations="frustrations" in given)
                    for answer in survey:
                        if written >= answers:
                            break
                        when = mix.END - timedelta(seconds=rng.random() * span)
                        rows.append(
                            answer_rows.row(
                                subject,
                                conversation,
                                answer,
                                when=when,
                                consent_event_id=given[answer[3]],
                            )
                        )
                        written += 1
            if rows:
                session.execute(insert(Answer), rows)
            if tags:
                session.execute(insert(SubjectTag), tags)
            session.commit()
        print(f"\r  built {written:,} / {answers:,} answers, {subjects:,} subjects", end="")
        sys.stdout.flush()
    print()
    with stores.brand(BRAND) as session:
        session.execute(insert(FunnelCount), answer_rows.funnel_rows())
        session.commit()
        stored = session.scalar(select(func.count()).select_from(Answer))
    stores.dispose()
    return {
        "answers": stored,
        "subjects": subjects,
        "consent_events": events,
        "key": key,
        "build_s": round(time.perf_counter() - started, 1),
        "store_mb": round(mix.store_bytes(data_dir) / 2**20, 1),
    }


def _consents(
    session: Any, subject: str, rng: random.Random, contexts: dict[str, Any]
) -> tuple[dict[str, int], int]:
    """One subject's consent events, appended one by one to the real hash-chained ledger;
    returns the id of each given consent by purpose, and how many events were appended."""
    from storage import ledger

    given: dict[str, int] = {}
    events = 0
    for purpose, decision in mix.consent_decisions(rng).items():
        ledger.append(session, subject_id=subject, event="requested", ctx=contexts[purpose])
        row = ledger.append(session, subject_id=subject, event=decision, ctx=contexts[purpose])
        events += 2
        if decision == "given":
            given[purpose] = row.id
    if "tailored_content" in given and rng.random() < 0.05:
        ledger.append(
            session, subject_id=subject, event="withdrawn", ctx=contexts["tailored_content"]
        )
        events += 1
    return given, events


# --- measure (child process) ------------------------------------------------------------------


def measure(data_dir: Path, key: str, browser: bool) -> dict[str, Any]:
    import httpx

    from bot.engine.launcher import Gateway
    from bot.gateway.state import gateway_of

    settings = mix.settings(data_dir)
    stores = settings.open_stores()
    gateway = Gateway(settings, stores)
    gateway.start()
    out: dict[str, Any] = {"rss_before_mb": mix.peak_rss_mb()}
    api = f"/api/v1/brands/{BRAND}/insights"
    headers = {"authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=settings.gateway_url, timeout=3600) as http:

            def timed(path: str, **params: Any) -> tuple[float, float, httpx.Response]:
                """Wall and CPU seconds (this process: the gateway) of one GET."""
                started, cpu = time.perf_counter(), time.process_time()
                response = http.get(path, headers=headers, params=params)
                response.raise_for_status()
                return time.perf_counter() - started, time.process_time() - cpu, response

            out["cold_s"], out["cold_cpu_s"], response = timed(api, fresh="true")
            report = response.json()
            out["report_kb"] = round(len(response.content) / 1024, 1)
            out["fresh_s"], out["fresh_cpu_s"], _ = timed(api, fresh="true")
            since = (mix.END - timedelta(weeks=4)).date().isoformat()
            out["filtered_s"], out["filtered_cpu_s"], _ = timed(api, channel="web", since=since)
            out["segment_view_s"], out["segment_view_cpu_s"], _ = timed(api, segment="runners")
            out["cached_s"] = statistics.median(timed(api)[0] for _ in range(5))
            started = time.perf_counter()
            for path in (
                f"/brands/{BRAND}/dashboard",
                "/static/dashboard/dashboard.js",
                "/static/dashboard/dashboard.css",
                "/static/dashboard/chart.umd.min.js",
            ):
                http.get(path).raise_for_status()
            out["page_s"] = time.perf_counter() - started
            for fmt in ("csv", "parquet"):
                out[f"export_{fmt}_s"], _, _ = timed(f"{api}/export", format=fmt)
        if browser and CHROMIUM.exists():
            out["browser_ready_s"] = _browser(settings.gateway_url, key)
        runtime = gateway_of(gateway.app).runtime
        started, cpu = time.perf_counter(), time.process_time()
        runtime.audiences.compute(BRAND, fresh=True)
        out["segments_only_s"] = time.perf_counter() - started
        out["segments_only_cpu_s"] = time.process_time() - cpu
        out["peak_rss_mb"] = mix.peak_rss_mb()
        out["figures"] = {
            "themes": [(t["label"], t["size"]) for t in report["themes"]],
            "segments": report["segments"]["sizes"] if report["segments"] else None,
            "emotion_weeks": len(report["emotions"]),
            "people": report["totals"]["people"],
            "answers": report["totals"]["answers"],
        }
    finally:
        gateway.stop()
        stores.dispose()
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in out.items()}


def _browser(url: str, key: str) -> float:
    """Seconds from navigation to `data-state=ready` (charts drawn), the key already entered."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = chromium.new_page(viewport={"width": 1280, "height": 900})
            page.add_init_script(
                f"sessionStorage.setItem('candor:dashboard:{BRAND}:key', {json.dumps(key)})"
            )
            started = time.perf_counter()
            page.goto(f"{url}/brands/{BRAND}/dashboard")
            page.wait_for_selector("body[data-state=ready]", timeout=600_000)
            return time.perf_counter() - started
        finally:
            chromium.close()


def prime(data_dir: Path, forget_themes: bool = False) -> dict[str, Any]:
    """Bring the kept segment facts up to date (the first report after the migration does it).

    `forget_themes`: also delete the themes kept in the store (`storage.heard_kept`), so that
    the cold report hears them again, as the first report after the `brand_0010` migration
    does; without it, cold is a restart of a gateway whose store kept them."""
    from sqlalchemy import select

    from storage import heard_kept, subject_facts
    from storage.schema import Subject

    stores = mix.settings(data_dir).open_stores()
    try:
        if forget_themes:
            with stores.brand(BRAND) as session:
                heard_kept.clear(session)
                session.commit()
        started, cpu = time.perf_counter(), time.process_time()
        with stores.brand(BRAND) as session:
            everyone = set(session.scalars(select(Subject.subject_id)))
            subject_facts.load(session, stores.keyring(BRAND), everyone)
        return {
            "facts_backfill_s": round(time.perf_counter() - started, 3),
            "facts_backfill_cpu_s": round(time.process_time() - cpu, 3),
        }
    finally:
        stores.dispose()


# --- main -------------------------------------------------------------------------------------


def _child(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a child of this script; on failure, show what it printed to stderr, then stop."""
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode:
        sys.stderr.write(done.stderr)
        sys.exit(f"{command[-1]} child failed with status {done.returncode}")
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, help="keep (or reuse) the built store here")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timing")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument(
        "--forget-themes",
        action="store_true",
        help="delete the themes kept in the store first: cold hears them again (spaCy)",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: the child process
    parser.add_argument("--prime", action="store_true", help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    if args.prime:
        print(json.dumps(prime(args.data_dir, args.forget_themes)))
        return
    if args.measure:
        print(json.dumps(measure(args.data_dir, args.measure, not args.no_browser)))
        return

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="candor-dash-"))
    manifest = data_dir / "bench-store.json"
    built = json.loads(manifest.read_text()) if manifest.exists() else None
    if built is None or built["answers"] != args.answers:
        if built is not None:
            sys.exit(f"{data_dir} holds a store of {built['answers']:,} answers; use another dir")
        print(f"building a store with {args.answers:,} answers in {data_dir} ...")
        built = build(data_dir, args.answers)
        manifest.write_text(json.dumps(built))
    else:
        print(f"reusing the store in {data_dir} ({built['answers']:,} answers)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    print("bringing the kept segment facts up to date ...")
    primed = _child(
        [
            sys.executable,
            __file__,
            "--data-dir",
            str(data_dir),
            "--prime",
            *(["--forget-themes"] if args.forget_themes else []),
        ],
        env,
    )
    backfill = json.loads(primed.stdout.strip().splitlines()[-1])
    print("measuring in a fresh process ...")
    child = _child(
        [
            sys.executable,
            __file__,
            "--data-dir",
            str(data_dir),
            "--measure",
            built["key"],
            *(["--no-browser"] if args.no_browser else []),
        ],
        env,
    )
    timings = json.loads(child.stdout.strip().splitlines()[-1])
    result = {
        "answers": built["answers"],
        "subjects": built["subjects"],
        "consent_events": built["consent_events"],
        "store_mb": built["store_mb"],
        "build_s": built["build_s"],
        "backend": "postgresql" if os.environ.get("CANDOR_DATABASE_URL") else "sqlite",
        "themes_kept": not args.forget_themes,
        **backfill,
        **timings,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    rows = [
        ("answers / subjects", f"{result['answers']:,} / {result['subjects']:,}"),
        ("store on disk", f"{result['store_mb']} MB (built in {result['build_s']} s)"),
        (
            "kept segment facts brought up to date",
            f"{result['facts_backfill_s']} s ({result['facts_backfill_cpu_s']} s CPU)",
        ),
        (
            "insights, cold (first fresh=true)",
            f"{result['cold_s']} s ({result['cold_cpu_s']} s CPU)",
        ),
        (
            "insights, recomputed (fresh=true)",
            f"{result['fresh_s']} s ({result['fresh_cpu_s']} s CPU)",
        ),
        (
            "  of which segments",
            f"{result['segments_only_s']} s ({result['segments_only_cpu_s']} s CPU)",
        ),
        (
            "  filtered: web, last 4 weeks",
            f"{result['filtered_s']} s ({result['filtered_cpu_s']} s CPU)",
        ),
        (
            "  filtered: segment runners",
            f"{result['segment_view_s']} s ({result['segment_view_cpu_s']} s CPU)",
        ),
        ("insights, cached", f"{result['cached_s'] * 1000:.1f} ms"),
        ("page + script + Chart.js", f"{result['page_s'] * 1000:.1f} ms"),
        (
            "exports csv / parquet (cached)",
            f"{result['export_csv_s']} / {result['export_parquet_s']} s",
        ),
        ("Chromium: navigation to charts", f"{result.get('browser_ready_s', '-')} s"),
        ("peak RSS (gateway process)", f"{result['peak_rss_mb']} MB"),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
