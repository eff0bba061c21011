from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot import engine
from tests.stack import Stack, start_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One real Rasa engine and gateway for the whole session's end-to-end tests."""
    running, gateway, process = start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield running
    finally:
        running.http.close()
        engine.stop(process)
        gateway.stop()
        running.stores.dispose()
