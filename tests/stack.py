"""A real Candor stack on loopback for end-to-end tests: the Rasa engine and the gateway.

The same code paths as `candor up` (engine command, generated endpoints, demo flow), but on free
ports and a temporary data directory.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.engine.launcher import Running, launch
from bot.engine.supervisor import EngineError
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


@dataclass
class Stack:
    settings: Settings
    stores: Stores
    app: Any = None  # the gateway's FastAPI app, for its state (e.g. background channel jobs)
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

    def subject(self, brand: str, user_id: str, channel: str = "api") -> str:
        """The pseudonymous subject id the store keys this customer's data by."""
        from bot.pseudonym import subject_id

        return subject_id(self.settings.key, brand=brand, channel=channel, user_id=user_id)

    def answers(self, brand: str, user_id: str) -> list[Any]:
        """The customer's stored answers, decrypted (records.AnswerView), as the store has them."""
        from storage import records

        with self.stores.brand(brand) as session:
            return records.answers_of(
                session, self.stores.keyring(brand), subject_id=self.subject(brand, user_id)
            )


def publish_flow_text(stack: Stack, folder: Path, brand: str, flow: str) -> str:
    """Publish a test's own flow (YAML text) to the session stack; its brand."""
    from bot.brands import publish_flow_file

    path = folder / f"{brand}.yaml"
    path.write_text(flow)
    publish_flow_file(stack.stores, path)
    return brand


def start_stack(tmp: Path, **overrides: Any) -> tuple[Stack, Running]:
    need(
        (ROOT / ".venv-rasa" / "bin" / "python").exists(),
        ".venv-rasa is missing (run `make setup`)",
    )
    examples = ROOT / "consent_flows" / "examples"
    # The shipped examples and the tricky ones (loops, withdrawals in loops, branches on free
    # text, purpose ids made of rights words): every one runs on the real engine.
    flows = tuple(sorted(examples.glob("*.yaml"))) + tuple(sorted(examples.glob("tricky/*.yaml")))
    for attempt in range(LAUNCH_ATTEMPTS):
        # A port `free_port` found free can be taken before the engine or the gateway binds it
        # (an outgoing connection's ephemeral port, another worker's server): it happened once
        # in a fresh-clone run (gateway: "address already in use"). Start again on new ports
        # and in a new directory; a fault of the stack itself fails every attempt.
        where = tmp if attempt == 0 else tmp / f"attempt-{attempt + 1}"
        try:
            running = launch(make_settings(where, **overrides), extra_flows=flows)
        except EngineError:
            if attempt == LAUNCH_ATTEMPTS - 1:
                raise
            continue
        return Stack(running.settings, running.stores, running.gateway.server.config.app), running
    raise AssertionError("unreachable")


LAUNCH_ATTEMPTS = 3
