"""Several engines and gateways on one machine, sharing PostgreSQL and Redis.

Replica `i` is one Rasa engine and one gateway process; the engine calls the actions of its own
gateway, and any gateway can take any turn of any conversation (sticky sessions are not
needed): trackers live in PostgreSQL, Rasa's `RedisLockStore` serialises each conversation's
turns across engines, and every answer goes to its brand's schema. `candor scale` runs this for
the demo; `tests/scale` and `benchmarks/replicas.py` drive it. Several machines: docs/deploy.md.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from bot.brands import publish_flow_file
from bot.engine import preflight, supervisor
from bot.engine.process import Child, answers_200, port_in_use, spawn, wait_healthy
from bot.engine.process import stop as stop_child
from bot.settings import ROOT, Settings


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
    gateway: Child
    engine: Child

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
        """SIGTERM to every child first, so that they all shut down at the same time."""
        children = [c for r in self.replicas for c in (r.gateway, r.engine)]
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            stop_child(child)


def start_gateway(settings: Settings, log_path: Path) -> Child:
    if port_in_use("127.0.0.1", settings.gateway_port):
        raise ScaleError(f"port {settings.gateway_port} is already in use")
    return spawn(
        [sys.executable, "-m", "bot", "gateway"],
        log_path=log_path,
        # A child's environment, not a read of configuration: the replica reads its own
        # Settings from these CANDOR_* variables; PATH and the like pass through.
        env={**os.environ, **settings_env(settings)},
        cwd=ROOT,
    )


def wait_for_gateway(
    settings: Settings, process: Child, log_path: Path, timeout_s: float = 60
) -> None:
    wait_healthy(
        process,
        answers_200(f"{settings.gateway_url}/healthz"),
        what="a gateway",
        log_path=log_path,
        timeout_s=timeout_s,
        error=ScaleError,
        interval_s=0.3,
    )


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
            process = supervisor.start_engine(settings, model, settings.run_dir / "engine.log")
            running.replicas.append(Replica(index, settings, gateway, process))
        for replica in running.replicas:
            run_dir = replica.settings.run_dir
            wait_for_gateway(replica.settings, replica.gateway, run_dir / "gateway.log")
            supervisor.wait_until_ready(replica.settings, replica.engine, run_dir / "engine.log")
    except BaseException:
        running.stop()
        raise
    return running
