"""Replicas on the real PostgreSQL and Redis: two engines and two gateway processes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.engine import replicas
from bot.engine.replicas import Replicas
from bot.settings import ROOT, Settings
from storage.stores import Stores
from tests.pg import PG_URL, REDIS_URL, drop_prefix, need_postgres, need_redis, new_prefix
from tests.scale.driver import BRAND
from tests.stack import free_port, need

FLOW = ROOT / "consent_flows" / "examples" / f"{BRAND}.yaml"


def scale_settings(tmp, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=tmp / "data",
        run_dir=tmp / "run",
        model_dir=ROOT / ".candor" / "models",
        secret_key="r" * 16 + os.urandom(16).hex(),
        database_url=PG_URL,
        redis_url=REDIS_URL,
        schema_prefix=prefix,
        gateway_port=free_port(),
        rasa_url=f"http://127.0.0.1:{free_port()}",
        purge_interval_s=0,
        # 200 surveys at once queue up on two cores: wait for the engine rather than give up
        # on a turn it will still finish (docs/deploy.md, "Timeouts").
        engine_timeout_s=120,
    )
    values.update(overrides)
    return Settings(**values)


def need_scale_services() -> None:
    need((ROOT / ".venv-rasa" / "bin" / "python").exists(), ".venv-rasa is missing (make setup)")
    need_postgres()
    need_redis()


@dataclass
class Cluster:
    replicas: Replicas
    stores: Stores  # the same PostgreSQL schemas, opened by the test to read what was stored

    @property
    def settings(self) -> Settings:
        return self.replicas.base


def start_cluster(tmp, count: int) -> Iterator[Cluster]:
    need_scale_services()
    prefix = new_prefix()
    base = scale_settings(tmp, prefix)
    ports = [free_port() for _ in range(2 * count)]
    running = replicas.start(
        base,
        count=count,
        engine_ports=ports[:count],
        gateway_ports=ports[count:],
        extra_flows=(FLOW,),
    )
    stores = base.open_stores()
    try:
        yield Cluster(running, stores)
    finally:
        stores.dispose()
        running.stop()
        drop_prefix(prefix)


@pytest.fixture(scope="module")
def two_replicas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from start_cluster(tmp_path_factory.mktemp("replicas"), 2)
