"""The access log of a real gateway (uvicorn on loopback) keeps paths, never query strings:
a verbatim search or a self-service token there would be what a customer typed, on disk."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.brands import create_brand
from bot.engine.launcher import Gateway
from storage.stores import Stores
from tests.factories import BASICS_FLOW
from tests.stack import make_settings

SECRET = "my-neighbour-sells-crack"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_lines(tmp_path: Path) -> Iterator[tuple[list[str], httpx.Client, str]]:
    settings = make_settings(tmp_path, purge_interval_s=0)
    stores = Stores(settings.data_dir)
    flow, key = create_brand(stores, BASICS_FLOW)
    gateway = Gateway(settings, stores)
    gateway.start()
    access = logging.getLogger("uvicorn.access")
    level = access.level
    access.setLevel(logging.INFO)  # what an operator's `--log-level info` does
    lines = Lines()
    access.addHandler(lines)
    try:
        with httpx.Client(
            base_url=settings.gateway_url, headers={"authorization": f"Bearer {key}"}
        ) as http:
            yield lines.lines, http, flow.brand
    finally:
        access.removeHandler(lines)
        access.setLevel(level)
        gateway.stop()
        stores.dispose()


def test_a_verbatim_search_reaches_the_log_without_its_words(
    access_lines: tuple[list[str], httpx.Client, str],
) -> None:
    lines, http, brand = access_lines
    path = f"/api/v1/brands/{brand}/questions/no_such_question/verbatims"
    response = http.get(path, params={"q": SECRET})
    assert response.status_code == 404
    http.get("/healthz")  # the line above is written once the response is sent
    logged = [line for line in lines if path in line]
    assert logged, lines  # the request is in the log, by its path and status
    assert "404" in logged[0]
    assert not any(SECRET in line for line in lines)
