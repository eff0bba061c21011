"""The gateway's long-lived objects are left out of garbage collection once it has started.

A full collection walked every module, schema and model the process holds while a request
waited: stalls of a hundred milliseconds and more at random turns, most of the latency tail
under people-paced load (docs/benchmarks.md, "People-paced latency"). Measured there, never
timed here; this checks the heap is frozen when the gateway starts serving.
"""

from __future__ import annotations

import gc
from pathlib import Path

from fastapi.testclient import TestClient

from bot.gateway.app import create_app
from storage.stores import Stores
from tests.stack import make_settings


def test_the_heap_is_frozen_before_the_first_request(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    gc.unfreeze()  # what earlier tests of this process froze
    try:
        assert gc.get_freeze_count() == 0
        with TestClient(create_app(settings, stores=stores)) as client:
            assert gc.get_freeze_count() > 10_000, "modules and schemas are left alone"
            assert client.get("/").status_code == 200
    finally:
        gc.unfreeze()
        stores.dispose()
