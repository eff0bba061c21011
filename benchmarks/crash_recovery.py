"""How fast a conversation answers again after kill -9, and what the resends did.

Runs tests/scale/crash.py's trials (a few surveys at once, one process killed at a random point
in each trial and started again; clients resend with `message_id` and `reply_to`) and prints,
per store and process: kills, resends, lost / duplicated / misfiled answers, how long the
killed process took to answer again (`down`) and how long after that the first conversation
answered (`recovery`). Figures go to docs/benchmarks.md, "Crash-safe resends".

    .venv/bin/python benchmarks/crash_recovery.py --trials 20 --store sqlite postgres
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scale import crash  # noqa: E402


def _ms(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    return {
        "median_s": round(statistics.median(ordered), 2),
        "max_s": round(ordered[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--store", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--victim", nargs="+", default=["gateway", "engine"])
    args = parser.parse_args()
    # The trials resend hard from one address, as tests/conftest.py allows the suite to; with the
    # shipped per-customer limits the resends would wait on 429s and the run would not finish.
    os.environ.setdefault("CANDOR_RATE_LIMITS", "false")
    for store in args.store:
        for victim in args.victim:
            with tempfile.TemporaryDirectory() as tmp, crash.replica(Path(tmp), store) as node:
                tally = crash.run(node, victim, args.trials)
            print(
                json.dumps(
                    {
                        "store": store,
                        "victim": victim,
                        **tally.row(),
                        "down": _ms(tally.down_s),
                        "recovery": _ms(tally.recovery_s),
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
