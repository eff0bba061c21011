"""Candor on one machine: train if needed, publish the demo flows, start the engine and wait for
it, serve the gateway. `candor up`, the tests and the benchmarks all start Candor through
`launch`, so they run the same steps in the same order.

The gateway runs in a background thread of this process, so the caller can drive it (or, for
`candor up`, wait until Ctrl-C). `uvicorn_options` is the one place its server options are
chosen, also for `candor gateway`, which serves it in the foreground.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import uvicorn

from bot.brands import AUDIENCES, publish_audiences, publish_flow_file
from bot.engine import preflight, supervisor
from bot.engine.process import Child, stop
from bot.gateway.app import KEEP_ALIVE_S, create_app
from bot.gateway.body_limit import server_options
from bot.gateway.lean_socket import LeanWebSocketProtocol
from bot.settings import Settings
from storage.stores import Stores


class Progress(Protocol):
    """Where `launch` reports its steps: a spinner and check marks for `candor up`."""

    def step(self, text: str) -> None:
        """What is being done now (it can take a while)."""

    def done(self, text: str) -> None:
        """What has just been done and stays true while Candor runs."""


class Quiet:
    """No report: the tests and benchmarks."""

    def step(self, text: str) -> None:
        pass

    def done(self, text: str) -> None:
        pass


QUIET = Quiet()


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "log_level": "warning",
        "timeout_keep_alive": KEEP_ALIVE_S,
        # No permessage-deflate on the widget's WebSocket: a chat message is a few hundred
        # bytes, while each socket's zlib streams held tens of KB of the gateway's memory
        # (docs/benchmarks.md, "Open conversations held at once"), and compressing what a
        # customer typed beside what a page can inject is a compression oracle under TLS.
        "ws_per_message_deflate": False,
        # uvicorn's sans-I/O WebSocket protocol (its default), holding less per open socket.
        "ws": LeanWebSocketProtocol,
        **server_options(settings),  # header and body read deadlines
    }


def serve(settings: Settings) -> None:
    """The gateway alone, in the foreground, until SIGINT or SIGTERM (`candor gateway`)."""
    uvicorn.run(create_app(settings), **uvicorn_options(settings))


class Gateway:
    """The FastAPI gateway served by uvicorn in a background thread."""

    def __init__(self, settings: Settings, stores: Stores) -> None:
        self.app = create_app(settings, stores=stores)  # its state, for tests and benchmarks
        config = uvicorn.Config(self.app, lifespan="on", **uvicorn_options(settings))
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout_s: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.server.should_exit = True  # if it starts after all, it stops at once
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
    process: Child

    def wait(self) -> None:
        """Until the gateway stops; Ctrl-C (KeyboardInterrupt) or SIGTERM reach the caller."""
        while self.gateway.thread.is_alive():
            self.gateway.thread.join(0.5)  # in slices: a signal handler runs between them

    def stop(self) -> None:
        stop(self.process)
        self.gateway.stop()
        self.stores.dispose()


def launch(
    settings: Settings, *, extra_flows: tuple[Path, ...] = (), progress: Progress = QUIET
) -> Running:
    """Train if needed, publish the demo flow, start the engine and wait until it has loaded
    its model, then serve the gateway: once the gateway answers, so does the whole product."""
    preflight.lock_down(settings)  # owner-only files, before the first one is created
    progress.step("Checking the Rasa model…")
    if not supervisor.model_path(settings).exists():
        progress.step("Training the Rasa model (inputs changed; about a minute)…")
    model, trained = supervisor.train(settings)
    progress.done(f"model {'trained' if trained else 'up to date'}: {model.name}")
    # The engine spends most of the start-up importing Rasa and loading its model, in a process
    # of its own: start it first, so the flows are published and the gateway built meanwhile.
    log_path = settings.run_dir / "engine.log"
    progress.step(f"Starting the Rasa engine (log: {log_path})…")
    process = supervisor.start_engine(settings, model, log_path)
    progress.step("Publishing the demo brand's flow…")
    try:
        stores = settings.open_stores()
    except BaseException:
        stop(process)
        raise
    try:
        demo = publish_flow_file(stores, settings.demo_flow)
        for flow in extra_flows:
            publish_flow_file(stores, flow)
        publish_audiences(stores, AUDIENCES)
        progress.done(f"brand {demo.brand}, flow version {demo.version}")
        gateway = Gateway(settings, stores)
        progress.step("Waiting for the engine to load the model…")
        supervisor.wait_until_ready(settings, process, log_path)
        progress.done(f"engine ready at {settings.rasa_url}")
        gateway.start()
    except BaseException:
        stop(process)
        stores.dispose()
        raise
    return Running(settings, stores, gateway, process)


def ready_engine(
    settings: Settings, model: Path, log_path: Path, *, progress: Progress = QUIET
) -> Child:
    """Start the engine and return it once its model is loaded; it is stopped if it never is."""
    process = supervisor.start_engine(settings, model, log_path)
    progress.step("Waiting for the engine to load the model…")
    try:
        supervisor.wait_until_ready(settings, process, log_path)
    except BaseException:
        stop(process)
        raise
    progress.done(f"engine ready at {settings.rasa_url}")
    return process
