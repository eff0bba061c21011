from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from bot.pseudonym import subject_id
from storage import ledger, records
from storage.dedup import SeenDelivery
from tests.stack import Stack

BRAND = "basics-store"


@dataclass(frozen=True)
class Stored:
    answers: list[tuple[str, str, object]]  # (step_id, verbatim, normalised value)
    consents: list[tuple[str, str, str]]  # (purpose, event, method)


def stored(stack: Stack, channel: str, user_id: str) -> Stored:
    """What the brand's store holds for one platform user, read through their pseudonym."""
    sid = subject_id(stack.settings.key, brand=BRAND, channel=channel, user_id=user_id)
    with stack.stores.brand(BRAND) as session:
        answers = records.answers_of(session, stack.stores.keyring(BRAND), subject_id=sid)
        consents = records.consents_of(session, subject_id=sid)
        return Stored(
            answers=[(a.step_id, a.verbatim, _value(a)) for a in answers],
            consents=[
                (c.purpose, c.event, ledger.payload(c)["collection_method"].split(":")[1])
                for c in consents
            ],
        )


def _value(answer: records.AnswerView) -> object:
    return answer.value


def delivery_marks(stack: Stack) -> int:
    with stack.stores.registry() as session:
        return session.query(SeenDelivery).count()


def wait_idle(stack: Stack, timeout_s: float = 30.0) -> None:
    """Wait until the gateway has no background channel job running (Slack replies)."""
    jobs = stack.app.state.channel_jobs
    deadline = time.monotonic() + timeout_s
    while jobs.pending:
        if time.monotonic() > deadline:
            raise AssertionError("channel jobs still running")
        time.sleep(0.02)


@pytest.fixture
def brand() -> str:
    return BRAND
