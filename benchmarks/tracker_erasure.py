"""Erasing one subject's Rasa tracker events, and the text scrub, as the tracker store grows.

Builds Rasa's `events` table (same columns and `sender_id` index as Rasa 3.6's SQL tracker store)
with N events over N / 70 conversations (a whole survey leaves about 70 events), then times
`storage.tracker_events.delete_subject` for subjects picked at random, against the pattern
match (`LIKE 'brand:%:subject'`) it replaced. Each deletion is rolled back so every
measurement sees the same table.

    .venv/bin/python benchmarks/tracker_erasure.py --events 1000000,5000000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

from consent_flows.contract import CHANNELS
from storage import backends, tracker_events

PER_CONVERSATION = 70


def build(path: Path, events: int) -> list[str]:
    engine = create_engine(f"sqlite:///{path}")
    subjects = [f"{i:040x}" for i in range(events // PER_CONVERSATION)]
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                "action_name VARCHAR(255), data TEXT)"
            )
        )
        conn.execute(text("CREATE INDEX ix_events_sender_id ON events (sender_id)"))
        kinds = ("user", "bot", "slot", "action")
        then = time.time() - 3600
        rows = (
            {
                "s": f"demo:{CHANNELS[i % len(CHANNELS)]}:{subject}",
                "k": kinds[n % 4],
                "t": then,
                # Already scrubbed: what a tracker store looks like after the first half-minute.
                "d": f'{{"event": "{kinds[n % 4]}", "text": ""}}',
            }
            for i, subject in enumerate(subjects)
            for n in range(PER_CONVERSATION)
        )
        batch: list[dict[str, object]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 50_000:
                conn.execute(
                    text(
                        "INSERT INTO events (sender_id, type_name, timestamp, data) "
                        "VALUES (:s, :k, :t, :d)"
                    ),
                    batch,
                )
                batch = []
        if batch:
            conn.execute(
                text(
                    "INSERT INTO events (sender_id, type_name, timestamp, data) "
                    "VALUES (:s, :k, :t, :d)"
                ),
                batch,
            )
    engine.dispose()
    return subjects


def measure(events: int, samples: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="candor-tracker-") as tmp:
        path = Path(tmp) / "rasa_tracker.db"
        started = time.perf_counter()
        subjects = build(path, events)
        built = time.perf_counter() - started
        # The gateway's own engine: WAL, secure_delete, the log truncated after deletions.
        engine = backends.sqlite_engine(path)
        picked = random.Random(8).sample(subjects, 3 * samples)
        index_ms, like_ms = [], []
        for subject in picked[:samples]:  # what erasure runs now
            started = time.perf_counter()
            removed = tracker_events.delete_subject(engine, brand="demo", subject_id=subject)
            index_ms.append((time.perf_counter() - started) * 1000)
            assert removed == PER_CONVERSATION, removed
        forget_ms = []
        for subject in picked[2 * samples :]:  # a withdrawal: rewrite, blank, truncate the log
            started = time.perf_counter()
            tracker_events.forget_purposes(
                engine, brand="demo", subject_id=subject, purposes=["needs"], asks=["need"], tags=[]
            )
            forget_ms.append((time.perf_counter() - started) * 1000)
        like = text("DELETE FROM events WHERE sender_id LIKE :pattern")
        for subject in picked[samples : 2 * samples]:  # what it ran before
            started = time.perf_counter()
            with engine.begin() as conn:
                removed = conn.execute(like, {"pattern": f"demo:%:{subject}"}).rowcount
            like_ms.append((time.perf_counter() - started) * 1000)
            assert removed == PER_CONVERSATION, removed
        # The tracker text scrub (every 30 s in the gateway) with nothing left to scrub: a
        # full pass, as every run did before, and a run from the mark the last run left.
        started = time.perf_counter()
        tracker_events.scrub_text(engine, older_than_s=30)
        full_scrub_ms = (time.perf_counter() - started) * 1000
        _, mark = tracker_events.scrub_since(engine, older_than_s=30, after=0)
        started = time.perf_counter()
        tracker_events.scrub_since(engine, older_than_s=30, after=mark)
        mark_scrub_ms = (time.perf_counter() - started) * 1000
        engine.dispose()
        return {
            "scrub_full_pass_ms": round(full_scrub_ms, 1),
            "scrub_from_mark_ms": round(mark_scrub_ms, 2),
            "events": events,
            "size_mb": round(path.stat().st_size / 2**20, 1),
            "build_s": round(built, 1),
            "erase_ms_median": round(statistics.median(index_ms), 2),
            "erase_ms_max": round(max(index_ms), 2),
            "like_ms_median": round(statistics.median(like_ms), 2),
            "forget_purposes_ms_median": round(statistics.median(forget_ms), 2),
            "samples": samples,
            "load_1m": round(os.getloadavg()[0], 2),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000000,5000000")
    parser.add_argument("--samples", type=int, default=9)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tracker_erasure.json"))
    args = parser.parse_args()
    results = [measure(int(n), args.samples) for n in args.events.split(",")]
    for row in results:
        print(
            f"{row['events']:>10,} events ({row['size_mb']} MB): erase {row['erase_ms_median']} ms "
            f"median, {row['erase_ms_max']} ms max; LIKE {row['like_ms_median']} ms; text scrub: "
            f"full pass {row['scrub_full_pass_ms']} ms, "
            f"from the mark {row['scrub_from_mark_ms']} ms; forget a purpose "
            f"{row['forget_purposes_ms_median']} ms median"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
