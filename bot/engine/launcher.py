"""Run the engine and the gateway together on loopback: for `candor bench` and the tests.

`candor up` runs the gateway in the foreground instead; this runs it in a background thread so
the caller can drive it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from bot.brands import AUDIENCES, publish_audiences, publish_flow_file
from bot.engine import preflight, supervisor
from bot.gateway.app import KEEP_ALIVE_S, create_app
from bot.gateway.body_limit import server_options
from bot.settings import Settings
from storage.stores import Stores


class Gateway:
    """The FastAPI gateway served by uvicorn in a background thread."""

    def __init__(self, settings: Settings, stores: Stores) -> None:
        config = uvicorn.Config(
            create_app(settings, stores=stores),
            host=settings.gateway_host,
            port=settings.gateway_port,
            log_level="warning",
            lifespan="on",
            timeout_keep_alive=KEEP_ALIVE_S,
            **server_options(settings),  # header and body read deadlines
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout_s: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise supervisor.EngineError("the gateway did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Running:
    settings: Settings
    stores: Stores
    gateway: Gateway
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        supervisor.stop(self.process)
        self.gateway.stop()
        self.stores.dispose()


def launch(settings: Settings, *, extra_flows: tuple[Path, ...] = ()) -> Running:
    """Train if needed, publish the demo flow, start gateway and engine, wait for both."""
    preflight.lock_down(settings)  # owner-only files, before the first one is created
    model, _ = supervisor.train(settings)
    stores = settings.open_stores()
    for flow in (settings.demo_flow, *extra_flows):
        publish_flow_file(stores, flow)
    publish_audiences(stores, AUDIENCES)
    gateway = Gateway(settings, stores)
    gateway.start()
    log_path = settings.run_dir / "supervisor.log"
    process = supervisor.start_engine(settings, model, log_path)
    try:
        supervisor.wait_until_ready(settings, process, log_path)
    except supervisor.EngineError:
        supervisor.stop(process)
        gateway.stop()
        raise
    return Running(settings, stores, gateway, process)
