"""Updates to followers: `candor updates send` on 100,000 followers (issue 20, "Follow a brand").

    .venv/bin/python benchmarks/updates.py                          # 100,000 + the paced run
    .venv/bin/python benchmarks/updates.py --followers 20000 --paced 500   # a quicker run

Two runs, each a real `candor updates send` child process against the recording Telegram Bot API
stand-in (tests/channels/standins.py) on loopback:

- ``loop``: ``--followers`` Telegram followers (bulk-inserted like benchmarks/dashboard.py, each
  address sealed with the subject's own key through ``Keyring.encrypt``), one update queued for
  all, the stand-in without a limit and the pace set far above it: what Candor's own loop costs
  per message (take and commit, the follower's cap and quiet hours, the address decrypted, the
  call, settle and commit). Wall and CPU time of the sender process.
- ``paced``: ``--paced`` followers at Telegram's published limit: the stand-in answers 429 (with
  ``retry_after``) past 30 messages a second, the sender paces itself at 25/s. The achieved rate
  and the 429s the stand-in had to send.

At Telegram's limits, 100,000 followers take 100,000 / 25 s ≈ 67 min whatever the loop costs;
the first run shows how much of that the loop would use. Writes benchmarks/results/updates.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.stores import Stores  # noqa: E402
from tests.channels.factories import Credentials  # noqa: E402
from tests.channels.standins import StandIns, running_standins  # noqa: E402
from tests.channels.updates_kit import (  # noqa: E402
    BRAND,
    Person,
    bulk_followers,
    progress,
    publish,
    queue_update,
)
from tests.stack import make_settings  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "updates.json"


def build(folder: Path, followers: int, standins: StandIns) -> tuple[dict[str, str], Stores, str]:
    """A brand with `followers` Telegram followers and one update queued for all of them."""
    creds = Credentials.random()
    channels = {BRAND: creds.settings(standins)}
    settings = make_settings(folder, channels=channels)
    stores = settings.open_stores()
    publish(stores, folder)
    people = [Person(f"f{n:06d}", "telegram", str(10_000_000 + n)) for n in range(followers)]
    for start in range(0, followers, 5000):
        bulk_followers(stores, people[start : start + 5000])
    update = queue_update(
        stores, [p.subject for p in people], datetime.now(UTC) - timedelta(minutes=1)
    )
    assert settings.secret_key is not None
    env = {
        **os.environ,
        "CANDOR_DATA_DIR": str(settings.data_dir),
        "CANDOR_RUN_DIR": str(settings.run_dir),
        "CANDOR_SECRET_KEY": settings.secret_key.get_secret_value(),
        "CANDOR_CHANNELS": json.dumps(channels),
    }
    return env, stores, update


def send(env: dict[str, str], update: str, rate: float) -> dict[str, float]:
    """Run `candor updates send` to the end; its wall time and CPU time (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "updates",
            "send",
            BRAND,
            update,
            "--telegram-rate",
            str(rate),
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def run(followers: int, rate: float, limit: float | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, running_standins() as standins:
        started = time.perf_counter()
        env, stores, update = build(Path(tmp), followers, standins)
        built_s = time.perf_counter() - started
        standins.telegram.per_second = limit
        timing = send(env, update, rate)
        counts = progress(stores, update)
        stores.dispose()
        delivered = standins.telegram.delivered("sendMessage")
        refused = len(standins.telegram.sent("sendMessage", lambda c: c.status == 429))
        per_chat = Counter(c.body["chat_id"] for c in delivered)
        span = delivered[-1].at - delivered[0].at
        busiest = max(Counter(int(c.at - delivered[0].at) for c in delivered).values())
    assert counts["sent"] == followers, counts
    assert len(per_chat) == followers
    assert max(per_chat.values()) == 1
    return {
        "followers": followers,
        "pace_per_s": rate,
        "standin_limit_per_s": limit,
        "build_s": round(built_s, 1),
        **timing,
        # From the first message to the last, as the stand-in saw them (no process start-up).
        "messages_per_s": round((followers - 1) / span, 1),
        "busiest_second": busiest,
        "cpu_ms_per_message": round(1000 * timing["cpu_s"] / followers, 2),
        "standin_429s": refused,
        "sent": counts["sent"],
        "twice": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--followers", type=int, default=100_000)
    parser.add_argument("--paced", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    loop = run(args.followers, rate=1_000_000.0, limit=None)
    print(json.dumps(loop))
    paced = run(args.paced, rate=25.0, limit=30.0)
    print(json.dumps(paced))
    result = {
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "store": "SQLite",
        "loop": loop,
        "paced": paced,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
