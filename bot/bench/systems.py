"""The three systems `candor bench` compares, each started privately on free loopback ports.

(a) "candor": the whole product, one engine and one gateway process (bot/engine/replicas.py) on a
    throw-away SQLite data directory, driven through `POST /api/v1/chat/{brand}`: engine,
    actions, every answer encrypted and committed with its ledger event before the reply.
(b) "bare": the engine as Candor runs it (bot/engine/rasa_boot.py, the same SQL tracker store on
    SQLite) with Candor's config.yml, over Rasa's REST channel, replying with plain responses
    instead of calling actions (bot/bench/bare_project.py). a/b is Candor's own overhead.
(c) "stock": `rasa run` as a user of stock Rasa 3.6 gets it: the pipeline and policies that
    `rasa init` gives (DIET + TED), no endpoints file, so Rasa's in-memory tracker and lock
    stores. Keeping nothing on disk flatters (c); the ratio a/c is the conservative one.
"""

from __future__ import annotations

import os
import socket
import tempfile
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import httpx

from bot.bench import bare_project
from bot.bench.driver import Send
from bot.bench.journeys import Turn
from bot.engine import replicas, supervisor
from bot.engine.process import Child, answers_200, spawn, stop, wait_healthy
from bot.settings import ROOT, Settings

BRAND = "basics-store"
FLOW = ROOT / "consent_flows" / "examples" / "basics-store.yaml"
SYSTEMS = ("candor", "bare", "stock")
# Scripted customers send their turns back to back, far past the per-customer limit that
# protects a real one (5 a second, 60 a minute), which would answer them 429: fast, cheap
# errors that a benchmark would count as turns. The bench measures turns, so it lifts it.
CUSTOMER_LIMIT = "1000/second;100000/minute"


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """`pid` and its live descendants (an engine with SANIC_WORKERS > 1 serves from children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def rss_mb(pid: int) -> float:
    """Resident memory of a live process and its descendants, from /proc (Linux)."""
    total = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1) if total else float("nan")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds one process has used so far, 0 if it is gone."""
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a live process and its live descendants have used so far."""
    return sum(process_cpu_s(member) for member in process_tree(pid))


async def _send_candor(client: httpx.AsyncClient, user: str, turn: Turn) -> bool:
    body = {"user_id": user, ("payload" if turn.via_button else "text"): turn.message}
    response = await client.post(f"/api/v1/chat/{BRAND}", json=body)
    return response.status_code == 200 and bool(response.json().get("messages"))


async def _send_rest(client: httpx.AsyncClient, user: str, turn: Turn) -> bool:
    response = await client.post(
        "/webhooks/rest/webhook", json={"sender": user, "message": turn.message}
    )
    return response.status_code == 200 and bool(response.json())


@dataclass
class Running:
    name: str
    base_url: str
    send: Send
    processes: dict[str, int]  # role -> pid, for memory and CPU
    data_dir: Path | None = None  # Candor's stores (and the tracker file), for their size

    def rss(self) -> dict[str, float]:
        return {role: rss_mb(pid) for role, pid in self.processes.items()}

    def cpu(self) -> dict[str, float]:
        return {role: cpu_s(pid) for role, pid in self.processes.items()}


class System(AbstractContextManager[Running]):
    """Starts one system in a temporary directory; leaving the block stops it and cleans up."""

    def __init__(
        self,
        name: str,
        *,
        stock_validator: bool = False,
        customer_limit: str | None = CUSTOMER_LIMIT,
    ) -> None:
        """`customer_limit` replaces Candor's per-customer message limit (`None`: the product's
        own, which a scripted customer hits; see `CUSTOMER_LIMIT`)."""
        if name not in SYSTEMS:
            raise ValueError(f"unknown system {name!r}; use one of {SYSTEMS}")
        self.name = name
        self.stock_validator = stock_validator
        self.customer_limit = customer_limit
        self._tmp = tempfile.TemporaryDirectory(prefix=f"candor-bench-{name}-")
        self._stop: list[Child] = []
        self._replicas: replicas.Replicas | None = None

    def __enter__(self) -> Running:
        try:
            return self._start_candor() if self.name == "candor" else self._start_rasa()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._replicas is not None:
            self._replicas.stop()
        for process in self._stop:
            stop(process)
        self._tmp.cleanup()

    def _start_candor(self) -> Running:
        tmp = Path(self._tmp.name)
        engine_port, gateway_port = free_ports(2)
        base = Settings(
            data_dir=tmp / "data",
            run_dir=tmp / "run",
            gateway_port=gateway_port,
            rasa_url=f"http://127.0.0.1:{engine_port}",
        )
        if self.customer_limit:
            base = base.model_copy(update={"limit_chat_customer": self.customer_limit})
        # Read only by the engine's own Python (rasa_boot.py), which inherits this environment
        # through the replica's supervisor: not a setting of this process.
        os.environ["CANDOR_STOCK_VALIDATOR"] = "1" if self.stock_validator else "0"
        try:
            self._replicas = replicas.start(
                base,
                count=1,
                engine_ports=[engine_port],
                gateway_ports=[gateway_port],
                extra_flows=(FLOW,),
            )
        finally:
            os.environ.pop("CANDOR_STOCK_VALIDATOR", None)
        replica = self._replicas.replicas[0]
        return Running(
            self.name,
            replica.gateway_url,
            _send_candor,
            {"engine": replica.engine.pid, "gateway": replica.gateway.pid},
            base.data_dir,
        )

    def _start_rasa(self) -> Running:
        tmp = Path(self._tmp.name)
        variant = self.name
        model = bare_project.trained_model(variant, log=tmp / "train.log")
        (port,) = free_ports(1)
        credentials = tmp / "credentials.yml"
        credentials.write_text("rest: {}\n")
        log_path = tmp / "engine.log"
        command = [
            *_rasa_command(variant, tmp),
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
            "--model",
            str(model),
            "--credentials",
            str(credentials),
        ]
        process = spawn(command, log_path=log_path, env=supervisor.engine_env(), cwd=tmp)
        self._stop.append(process)
        base_url = f"http://127.0.0.1:{port}"
        wait_healthy(
            process,
            answers_200(f"{base_url}/"),
            what="the engine",
            log_path=log_path,
            timeout_s=240,
            error=supervisor.EngineError,
        )
        return Running(self.name, base_url, _send_rest, {"engine": process.pid})


def _rasa_command(variant: str, tmp: Path) -> list[str]:
    if variant == "stock":
        return [str(supervisor.RASA_VENV / "bin" / "rasa"), "run"]
    settings = Settings(data_dir=tmp / "data", run_dir=tmp / "run")
    endpoints = tmp / "endpoints.yml"
    endpoints.write_text(
        "\n".join(
            [*supervisor.tracker_store_lines(settings), *supervisor.lock_store_lines(settings)]
        )
        + "\n"
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return [
        str(supervisor.rasa_python()),
        str(supervisor.BOOT),
        "run",
        "--endpoints",
        str(endpoints),
    ]
