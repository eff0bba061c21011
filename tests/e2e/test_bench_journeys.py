"""`candor bench`'s scripted customers run whole surveys on the real engine without an error.

If a journey drifted from the basics-store flow (a question renamed, a button changed), the
benchmark would measure error replies instead of surveys; this catches that.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import Select, func, select

from bot.bench.driver import run_level
from bot.bench.journeys import JOURNEYS, turns_per_round
from bot.bench.systems import BRAND, _send_candor
from storage.schema import Answer, ConsentEvent, FunnelCount
from tests.stack import Stack

pytestmark = pytest.mark.engine


def _count(stack: Stack, query: Select[tuple[int]]) -> int:
    with stack.stores.brand(BRAND) as session:
        return session.scalar(query) or 0


def test_every_journey_completes_and_writes_what_it_says(stack: Stack) -> None:
    answers = select(func.count()).select_from(Answer)
    withdrawn = select(func.count()).where(ConsentEvent.event == "withdrawn")
    probed = select(func.count()).where(Answer.probe.is_not(None))
    followed = select(func.count()).where(Answer.followup_enc.is_not(None))
    probes = select(func.coalesce(func.sum(FunnelCount.count), 0)).where(
        FunnelCount.event == "probed"
    )
    before = [_count(stack, q) for q in (answers, withdrawn, probed, followed, probes)]
    rounds = 2
    level = asyncio.run(
        run_level(
            "candor",
            stack.settings.gateway_url,
            _send_candor,
            customers=rounds * len(JOURNEYS),
            concurrency=3,
            max_seconds=300,
        )
    )
    assert level.errors == 0
    assert level.completed == rounds * len(JOURNEYS)
    assert level.turns == rounds * turns_per_round()
    # Per round: 3 answers (buttons), 2 (typed: one skipped), 2 that the withdrawal deletes,
    # and 3 (vague): "stuff" and "the usual" each followed up, only the first one answered.
    after = [_count(stack, q) for q in (answers, withdrawn, probed, followed, probes)]
    assert after[0] - before[0] == rounds * 8
    assert after[1] - before[1] == rounds
    assert after[2] - before[2] == rounds * 2
    assert after[3] - before[3] == rounds
    assert after[4] - before[4] == rounds * 2
