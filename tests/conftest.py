from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nlu.analysis.config import configure, current
from tests import environment
from tests.browser import browser  # noqa: F401  (fixtures for every suite)
from tests.channels.factories import Credentials
from tests.channels.standins import StandIns, running_standins
from tests.pg import pg_prefix, store_backend  # noqa: F401
from tests.stack import Stack, start_stack

# A clean CANDOR_* environment (tests/environment.py): nothing from the developer's shell
# changes a test's settings, nor those of the processes the tests start. Done when pytest loads
# this file, before any test module is imported or any Settings is made.
environment.clean(os.environ)

# Then what the suite needs. Abuse limits (bot/gateway/limits.py) stay on, at figures no test
# reaches by accident: the suite runs many quick turns per customer, all from this machine.
# Set in the environment so gateway processes the tests start inherit them; tests of the
# limits pass small ones.
for _rule in (
    "chat_ip",
    "chat_customer",
    "chat_brand",
    "channel_brand",
    "refused_ip",
    "admin_ip",
    "admin_brand",
    "publish_brand",
    "public_ip",
):
    os.environ[f"CANDOR_LIMIT_{_rule.upper()}"] = "1000000/minute"
os.environ["CANDOR_WS_PER_IP"] = "10000"
# Every CANDOR_* setting a test starts with (the suite's knobs are not settings).
SUITE_SETTINGS = {
    k: v
    for k, v in os.environ.items()
    if k.startswith(environment.PREFIX) and k not in environment.SUITE_KNOBS
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Long tests first, so that the two xdist workers of `make test` end together.

    xdist hands out the first quarter of the tests in turn and the rest as workers free up: a
    long test near the end kept one worker busy while the other had nothing left to run. Only
    the order changes (a stable sort), never what runs.
    """
    items.sort(key=lambda item: not _long(item))


def _long(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in ("slow", "crash"))


@pytest.fixture(autouse=True)
def _analysis_choices() -> Iterator[None]:
    """Undo a test's `load_settings()` (CLI tests call it): it sets the process's analysis
    choices (nlu/analysis/config.py), which would otherwise follow into the next test."""
    before = current()
    yield
    configure(before)


# The brand whose Telegram bot and Slack app point at the stand-ins (the small test survey).
CHANNEL_BRAND = "basics-store"


@pytest.fixture(scope="session")
def standins() -> Iterator[StandIns]:
    """Recording Telegram Bot API and Slack Web API stand-ins on loopback, for the session."""
    with running_standins() as running:
        yield running


@pytest.fixture(scope="session")
def channel_credentials() -> Credentials:
    """The test brand's Telegram and Slack secrets, random per session."""
    return Credentials.random()


# The brand whose flow asks to be followed (consent_flows/examples/tricky/follow-store.yaml):
# its bot and app point at the same stand-ins, with secrets of their own.
FOLLOW_BRAND = "follow-store"


@pytest.fixture(scope="session")
def follow_credentials() -> Credentials:
    return Credentials.random()


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    standins: StandIns,
    channel_credentials: Credentials,
    follow_credentials: Credentials,
) -> Iterator[Stack]:
    """One real Rasa engine and gateway for the whole session's end-to-end tests.

    The test brands' Telegram bots and Slack apps point at the stand-ins.
    """
    stack_, running = start_stack(
        tmp_path_factory.mktemp("stack"),
        channels={
            CHANNEL_BRAND: channel_credentials.settings(standins),
            FOLLOW_BRAND: follow_credentials.settings(standins),
        },
    )
    try:
        yield stack_
    finally:
        stack_.http.close()
        running.stop()
