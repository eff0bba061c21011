"""The fuzzing suite's gateway: the real app in process, a brand with a key and channels.

The engine is the stand-in (tests/channels/standins.py), so the chat route answers 200 as well
as its documented errors; Telegram and Slack point at their stand-ins. Abuse limits are off:
the fuzzer is one client sending thousands of requests, and what it tests is the answers.

Every response the suite gets is tallied by status; the totals are printed at the end of the
run (`fuzz: N requests, 5xx: 0, ...`) for the closing note of issue 14.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from bot.brands import create_brand
from bot.gateway.app import create_app
from bot.settings import Settings
from storage.stores import Stores
from tests.channels.factories import Credentials
from tests.channels.standins import EngineStandIn, StandIns, running_engine
from tests.factories import EXAMPLES
from tests.stack import make_settings

BRAND = "basics-store"
# Examples per operation and per test: small in `make test`, large in `make fuzz`.
FUZZ_EXAMPLES = int(os.environ.get("CANDOR_FUZZ_EXAMPLES", "20"))
TALLY: Counter[int] = Counter()


@dataclass(frozen=True)
class Target:
    app: FastAPI
    key: str
    creds: Credentials
    engine: EngineStandIn


@pytest.fixture(scope="session")
def fuzz_engine() -> Iterator[EngineStandIn]:
    with running_engine() as engine:
        yield engine


@pytest.fixture(scope="session")
def target(
    tmp_path_factory: pytest.TempPathFactory, standins: StandIns, fuzz_engine: EngineStandIn
) -> Iterator[Target]:
    creds = Credentials.random()
    overrides: dict[str, Any] = {"channels": {BRAND: creds.settings(standins)}}
    if "rate_limits" in Settings.model_fields:
        overrides["rate_limits"] = False
    settings = make_settings(
        Path(tmp_path_factory.mktemp("fuzz")), rasa_url=fuzz_engine.url, **overrides
    )
    stores = Stores(settings.data_dir)
    _, key = create_brand(stores, EXAMPLES / "basics-store.yaml")
    try:
        yield Target(create_app(settings, stores=stores), key, creds, fuzz_engine)
    finally:
        from schemathesis.python import asgi

        asgi.shutdown_lifespans()  # the app's lifespan, started by schemathesis' ASGI client
        stores.dispose()


def openapi_document() -> dict[str, Any]:
    """The gateway's OpenAPI document, from a throwaway app (it depends on no data)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = make_settings(Path(tmp))
        stores = Stores(settings.data_dir)
        try:
            return create_app(settings, stores=stores).openapi()
        finally:
            stores.dispose()


def tally(status: int) -> None:
    TALLY[status] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY:
        return
    total = sum(TALLY.values())
    errors = sum(n for status, n in TALLY.items() if status >= 500)
    by_status = ", ".join(f"{status}: {n}" for status, n in sorted(TALLY.items()))
    terminalreporter.write_line(f"fuzz: {total} requests, 5xx: {errors} ({by_status})")
