"""A seeded brand store and a gateway serving it (no engine: the dashboard does not need one)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.engine.launcher import Gateway
from bot.settings import Settings
from tests.dashboard.factories import Crowd, seed_crowd
from tests.stack import make_settings


@dataclass
class Served:
    settings: Settings
    crowd: Crowd

    @property
    def url(self) -> str:
        return self.settings.gateway_url


@pytest.fixture
def crowd_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, purge_interval_s=0)


@pytest.fixture
def crowd(crowd_settings: Settings) -> Iterator[Crowd]:
    stores = crowd_settings.open_stores()
    try:
        yield seed_crowd(stores)
    finally:
        stores.dispose()


@pytest.fixture
def served(crowd_settings: Settings, crowd: Crowd) -> Iterator[Served]:
    """The real gateway (uvicorn, loopback, a free port) on the seeded store."""
    gateway = Gateway(crowd_settings, crowd.stores)
    gateway.start()
    try:
        yield Served(crowd_settings, crowd)
    finally:
        gateway.stop()
