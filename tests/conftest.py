from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import browser  # noqa: F401  (fixtures for every suite)
from tests.channels.factories import Credentials
from tests.channels.standins import StandIns, running_standins
from tests.pg import pg_prefix, store_backend  # noqa: F401
from tests.stack import Stack, start_stack

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


@pytest.fixture(scope="session")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    standins: StandIns,
    channel_credentials: Credentials,
) -> Iterator[Stack]:
    """One real Rasa engine and gateway for the whole session's end-to-end tests.

    The test brand's Telegram bot and Slack app point at the stand-ins.
    """
    stack_, running = start_stack(
        tmp_path_factory.mktemp("stack"),
        channels={CHANNEL_BRAND: channel_credentials.settings(standins)},
    )
    try:
        yield stack_
    finally:
        stack_.http.close()
        running.stop()
