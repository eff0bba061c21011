from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack import Stack, start_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One real Rasa engine and gateway for the whole session's end-to-end tests."""
    stack_, running = start_stack(tmp_path_factory.mktemp("stack"))
    try:
        yield stack_
    finally:
        stack_.http.close()
        running.stop()
