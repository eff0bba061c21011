"""Crash-safe resends, proven (issue 14, items 5 and 9): kill -9 the gateway or the engine at
random points under concurrent surveys, on SQLite and on PostgreSQL with Redis locks.

Clients resend every message that got no answer with its `message_id` and `reply_to`. After
every trial, each conversation's store must hold each answer once, under its own step, and each
consent event once, and the ledger must verify. `make test` runs a few trials per case; `make
crash` runs 20 (`CANDOR_CRASH_TRIALS`), and the figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.scale import crash

pytestmark = [pytest.mark.engine, pytest.mark.crash]
# A gateway restarts in seconds, an engine in tens of seconds (its model): fewer engine kills.
DEFAULT_TRIALS = {"gateway": 4, "engine": 2}


def _trials(victim: str) -> int:
    return int(os.environ.get("CANDOR_CRASH_TRIALS") or DEFAULT_TRIALS[victim])


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
@pytest.mark.parametrize("victim", ["gateway", "engine"])
def test_kill_9_loses_nothing_and_stores_nothing_twice(
    tmp_path: Path, store: crash.Store, victim: crash.Victim
) -> None:
    with crash.replica(tmp_path, store) as node:
        tally = crash.run(node, victim, _trials(victim))
    print(f"\n{store} {victim}: {tally.row()}")
    assert tally.kills == tally.trials > 0
    assert tally.resends > 0, "no message was caught by a kill"
    assert (tally.lost, tally.duplicated, tally.misfiled) == (0, 0, 0), tally.row()
    assert tally.unfinished == 0, tally.row()
    assert tally.ledger_problems == 0, tally.row()
