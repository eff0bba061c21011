from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bot.brands import publish_flow_file
from bot.gateway.app import create_app
from bot.gateway.state import gateway_of
from bot.pseudonym import subject_id
from bot.settings import ROOT, Settings
from storage import ledger, records
from storage.dedup import SeenDelivery
from storage.stores import Stores
from tests.channels.factories import Credentials
from tests.channels.standins import EngineStandIn, StandIns, running_engine
from tests.stack import Stack, make_settings

BRAND = "basics-store"
BASICS_FLOW = ROOT / "consent_flows" / "examples" / "basics-store.yaml"


@dataclass(frozen=True)
class Stored:
    answers: list[tuple[str, str, object]]  # (step_id, verbatim, normalised value)
    consents: list[tuple[str | None, str | None, str]]  # (purpose, event, method)


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
    jobs = gateway_of(stack.app).channels.jobs
    deadline = time.monotonic() + timeout_s
    while jobs.pending:
        if time.monotonic() > deadline:
            raise AssertionError("channel jobs still running")
        time.sleep(0.02)


@pytest.fixture
def brand() -> str:
    return BRAND


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Wait for something another thread does; the deadline only turns a hang into a failure."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.01)


@dataclass
class Gateway:
    """The real gateway, in process, in front of a stand-in engine and the platform stand-ins."""

    http: TestClient
    app: Any
    settings: Settings
    stores: Stores
    engine: EngineStandIn
    creds: Credentials

    def jobs_idle(self) -> None:
        wait_until(lambda: not gateway_of(self.app).channels.jobs.pending, "Slack reply jobs")


@pytest.fixture
def engine() -> Iterator[EngineStandIn]:
    """A stand-in for the engine's REST channel, counting and recording turns."""
    with running_engine() as running:
        yield running


def gateway_settings(
    tmp: Path, engine: EngineStandIn, standins: StandIns, **overrides: Any
) -> Settings:
    """Settings for a gateway that talks to the stand-in engine, Telegram and Slack."""
    channels = {BRAND: CREDS.settings(standins)}
    return make_settings(tmp, rasa_url=engine.url, channels=channels, **overrides)


CREDS = Credentials.random()


@pytest.fixture
def gateway(tmp_path: Path, engine: EngineStandIn, standins: StandIns) -> Iterator[Gateway]:
    settings = gateway_settings(tmp_path, engine, standins)
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, BASICS_FLOW)
    app = create_app(settings, stores=stores)
    try:
        with TestClient(app) as http:
            yield Gateway(http, app, settings, stores, engine, CREDS)
    finally:
        stores.dispose()
