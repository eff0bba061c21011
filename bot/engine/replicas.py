"""Several engines and gateways on one machine, sharing PostgreSQL and Redis.

Replica `i` is one Rasa engine and one gateway process; the engine calls the actions of its own
gateway, and any gateway can take any turn of any conversation (sticky sessions are not
needed): trackers live in PostgreSQL, Rasa's `RedisLockStore` serialises each conversation's
turns across engines, and every answer goes to its brand's schema. `candor scale` runs this for
the demo; `tests/scale` and `benchmarks/replicas.py` drive it. Several machines: docs/deploy.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.brands import publish_flow_file
from bot.engine import preflight, supervisor
from bot.settings import ROOT, Settings
from storage.backends import private_file


class ScaleError(RuntimeError):
    """The replicas cannot start; the message says what to do."""


def settings_env(settings: Settings) -> dict[str, str]:
    """`settings` as CANDOR_* variables, for a child process (channels come from the parent)."""
    env: dict[str, str] = {}
    for name in Settings.model_fields:
        if name in ("channels", "channels_file"):
            continue
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[f"CANDOR_{name.upper()}"] = str(value)
    return env


def replica_settings(
    base: Settings, index: int, *, engine_port: int, gateway_port: int
) -> Settings:
    return base.model_copy(
        update={
            "rasa_url": f"http://127.0.0.1:{engine_port}",
            "gateway_port": gateway_port,
            "run_dir": base.run_dir / f"replica-{index}",
            "actions_url": None,  # each engine calls the actions of its own gateway
        }
    )


@dataclass
class Replica:
    index: int
    settings: Settings
    gateway: subprocess.Popen[bytes]
    engine: subprocess.Popen[bytes]

    @property
    def gateway_url(self) -> str:
        return self.settings.gateway_url


@dataclass
class Replicas:
    base: Settings
    replicas: list[Replica] = field(default_factory=list)

    @property
    def gateway_urls(self) -> list[str]:
        return [r.gateway_url for r in self.replicas]

    def stop(self) -> None:
        for replica in self.replicas:
            for process in (replica.gateway, replica.engine):
                if process.poll() is None:
                    process.terminate()
        for replica in self.replicas:
            for process in (replica.gateway, replica.engine):
                supervisor.stop(process)


def _die_with_parent() -> None:
    supervisor._die_with_parent()


def start_gateway(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    if supervisor.port_in_use("127.0.0.1", settings.gateway_port):
        raise ScaleError(f"port {settings.gateway_port} is already in use")
    private_file(log_path)  # owner-only, like the stores (preflight.lock_down)
    env = {**os.environ, **settings_env(settings)}
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "gateway"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )


def wait_for_gateway(
    settings: Settings, process: subprocess.Popen[bytes], log_path: Path, timeout_s: float = 60
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ScaleError(f"a gateway exited with code {process.returncode}; see {log_path}")
        try:
            if httpx.get(f"{settings.gateway_url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ScaleError(f"a gateway did not answer within {timeout_s:.0f}s; see {log_path}")


def start(
    base: Settings,
    *,
    count: int,
    engine_ports: list[int],
    gateway_ports: list[int],
    extra_flows: tuple[Path, ...] = (),
) -> Replicas:
    """Check the services, train if needed, publish the flows, start `count` replicas."""
    if count > 1 and (base.database_url is None or base.redis_url is None):
        raise ScaleError(
            "several replicas share PostgreSQL and Redis: set CANDOR_DATABASE_URL and "
            "CANDOR_REDIS_URL (see docs/deploy.md)"
        )
    try:
        preflight.check(base)
    except preflight.ServiceUnavailable as exc:
        raise ScaleError(str(exc)) from None
    model, _ = supervisor.train(base)
    stores = base.open_stores()
    try:
        for flow in (base.demo_flow, *extra_flows):
            publish_flow_file(stores, flow)
    finally:
        stores.dispose()
    running = Replicas(base)
    try:
        for index in range(count):
            settings = replica_settings(
                base, index, engine_port=engine_ports[index], gateway_port=gateway_ports[index]
            )
            gateway = start_gateway(settings, settings.run_dir / "gateway.log")
            process = supervisor.start_engine(settings, model, settings.run_dir / "supervisor.log")
            running.replicas.append(Replica(index, settings, gateway, process))
        for replica in running.replicas:
            run_dir = replica.settings.run_dir
            wait_for_gateway(replica.settings, replica.gateway, run_dir / "gateway.log")
            supervisor.wait_until_ready(
                replica.settings, replica.engine, run_dir / "supervisor.log"
            )
    except BaseException:
        running.stop()
        raise
    return running
