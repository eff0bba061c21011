"""A real Candor stack on loopback for end-to-end tests: the Rasa engine and the gateway.

The same code paths as `candor up` (engine command, generated endpoints, demo flow), but on free
ports and a temporary data directory.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bot import engine
from bot.app import create_app
from bot.brands import publish_flow_file
from bot.settings import ROOT, Settings
from storage.stores import Stores

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def need(condition: bool, reason: str) -> None:
    """Skip on a laptop, fail in CI: a missing real part must never silently pass CI."""
    if not condition:
        if IN_CI:
            pytest.fail(f"CI=true and {reason}", pytrace=False)
        pytest.skip(reason)


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        data_dir=tmp / "data",
        run_dir=tmp / "run",
        model_dir=ROOT / ".candor" / "models",
        gateway_port=free_port(),
        rasa_url=f"http://127.0.0.1:{free_port()}",
        secret_key="t" * 16 + os.urandom(16).hex(),
    )
    values.update(overrides)
    return Settings(**values)


class Gateway:
    """The FastAPI gateway served by uvicorn in a background thread."""

    def __init__(self, settings: Settings, stores: Stores) -> None:
        config = uvicorn.Config(
            create_app(settings, stores=stores),
            host="127.0.0.1",
            port=settings.gateway_port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the gateway did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@dataclass
class Stack:
    settings: Settings
    stores: Stores
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(base_url=self.settings.gateway_url, timeout=60)

    def chat(
        self, brand: str, user_id: str, *, text: str | None = None, payload: str | None = None
    ) -> httpx.Response:
        body: dict[str, str] = {"user_id": user_id}
        if text is not None:
            body["text"] = text
        if payload is not None:
            body["payload"] = payload
        return self.http.post(f"/api/v1/chat/{brand}", json=body)

    def say(self, brand: str, user_id: str, **kwargs: str) -> list[dict[str, Any]]:
        response = self.chat(brand, user_id, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()["messages"]


def start_stack(tmp: Path) -> tuple[Stack, Gateway, Any]:
    need(
        (ROOT / ".venv-rasa" / "bin" / "python").exists(),
        ".venv-rasa is missing (run `make setup`)",
    )
    settings = make_settings(tmp)
    model, _ = engine.train(settings)
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, settings.demo_flow)
    gateway = Gateway(settings, stores)
    gateway.start()
    log_path = settings.run_dir / "engine.log"
    process = engine.start_engine(settings, model, log_path)
    try:
        engine.wait_until_ready(settings, process, log_path)
    except engine.EngineError:
        engine.stop(process)
        gateway.stop()
        raise
    return Stack(settings, stores), gateway, process
