"""kill -9 under load: conversations that resend like a careful client, and what the store kept.

One replica (a gateway process and an engine process) on SQLite, or on PostgreSQL with Redis
locks. Each trial starts a few whole surveys at once and kills one process with SIGKILL at a
random moment, then starts it again. The clients do what the README asks of a client: every
message has a `message_id` and the `reply_to` token of the question it answers, and a message
that got no answer (dropped connection, 502/503) is resent with both unchanged until it gets
one. Afterwards every conversation's store is compared with what the customer said.

Used by tests/scale/test_crash.py (which asserts) and benchmarks/crash_recovery.py (which
measures how long a conversation whose turn died takes to answer again).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from bot.engine import replicas, supervisor
from bot.settings import ROOT, Settings
from storage import ledger
from storage.stores import Stores
from tests.scale.driver import BRAND, SCRIPT, stored_result

Store = Literal["sqlite", "postgres"]
Victim = Literal["gateway", "engine"]
FLOW = ROOT / "consent_flows" / "examples" / f"{BRAND}.yaml"
CONVERSATIONS = 4  # at once, per trial
GIVE_UP_S = 240.0  # one message, across restarts (an engine restart takes a while on 2 cores)
# What a whole survey must leave behind: each answer once, under its own step.
EXPECTED_ANSWERS = {
    "activity": "hiking",
    "need": "a light rain jacket, maybe boots",
    "frustration": "stop-start deliveries and no stock in my size",
}
EXPECTED_CONSENTS = [
    ("needs", "requested"),
    ("needs", "given"),
    ("frustrations", "requested"),
    ("frustrations", "given"),
]


@dataclass
class Tally:
    """The figures of a run (docs/benchmarks.md, "Crash-safe resends")."""

    trials: int = 0
    kills: int = 0
    messages: int = 0
    resends: int = 0  # a message sent again with the same message_id and reply_to
    replayed: int = 0  # a resend answered with the first reply (Idempotent-Replayed)
    refused_409: int = 0  # a resend refused as already handled
    lost: int = 0  # an answer or consent the customer was told was taken, not in the store
    duplicated: int = 0  # stored twice
    misfiled: int = 0  # stored under a step it does not answer
    unfinished: int = 0  # a survey that did not reach its end
    ledger_problems: int = 0
    recovery_s: list[float] = field(default_factory=list)  # restart ready -> next answer
    down_s: list[float] = field(default_factory=list)  # kill -> restarted process ready

    def add(self, other: Tally) -> None:
        for name, value in vars(other).items():
            if isinstance(value, list):
                getattr(self, name).extend(value)
            else:
                setattr(self, name, getattr(self, name) + value)

    def row(self) -> dict[str, int]:
        return {k: v for k, v in vars(self).items() if not isinstance(v, list)}


@dataclass
class Replica:
    """A gateway and an engine as two processes that a trial can kill and start again."""

    settings: Settings
    model: Path
    gateway: subprocess.Popen[bytes]
    engine: subprocess.Popen[bytes]
    stores: Stores

    @property
    def log_dir(self) -> Path:
        return self.settings.run_dir

    def kill(self, victim: Victim) -> None:
        process = self.gateway if victim == "gateway" else self.engine
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)

    def respawn(self, victim: Victim) -> None:
        """Start the killed process again. From the main thread: the child is told to exit
        when the thread that started it ends (PR_SET_PDEATHSIG), not only the process."""
        if victim == "gateway":
            self.gateway = replicas.start_gateway(self.settings, self.log_dir / "gateway.log")
        else:
            self.engine = supervisor.start_engine(
                self.settings, self.model, self.log_dir / "engine.log"
            )

    def wait_ready(self, victim: Victim) -> float:
        """Returns when the restarted process answers (monotonic time)."""
        if victim == "gateway":
            replicas.wait_for_gateway(self.settings, self.gateway, self.log_dir / "gateway.log")
        else:
            supervisor.wait_until_ready(self.settings, self.engine, self.log_dir / "engine.log")
        return time.monotonic()

    def stop(self) -> None:
        for process in (self.gateway, self.engine):
            supervisor.stop(process)
        self.stores.dispose()


@contextmanager
def replica(tmp: Path, store: Store) -> Iterator[Replica]:
    """One replica on `store`: SQLite files (in-memory locks) or PostgreSQL with Redis locks."""
    from tests.pg import drop_prefix, new_prefix
    from tests.scale.conftest import need_scale_services, scale_settings
    from tests.stack import free_port, make_settings, need

    need((ROOT / ".venv-rasa" / "bin" / "python").exists(), ".venv-rasa is missing (make setup)")
    prefix = ""
    if store == "postgres":
        need_scale_services()
        prefix = new_prefix()
        base = scale_settings(tmp, prefix, engine_timeout_s=60)
    else:
        base = make_settings(tmp, purge_interval_s=0, engine_timeout_s=60)
    engine_port, gateway_port = free_port(), free_port()
    running = replicas.start(
        base, count=1, engine_ports=[engine_port], gateway_ports=[gateway_port], extra_flows=(FLOW,)
    )
    one = running.replicas[0]
    model, _ = supervisor.train(base)
    handle = Replica(one.settings, model, one.gateway, one.engine, base.open_stores())
    try:
        yield handle
    finally:
        handle.stop()
        if prefix:
            drop_prefix(prefix)


@dataclass
class Clock:
    """Moments of one trial: when to kill, and the first answer after the restart."""

    kill_after: int  # acknowledged messages
    acked: int = 0
    go: asyncio.Event = field(default_factory=asyncio.Event)
    ready: float | None = None
    first_answer: float | None = None

    def ack(self) -> None:
        self.acked += 1
        if self.acked >= self.kill_after:
            self.go.set()
        if self.ready is not None and self.first_answer is None:
            self.first_answer = time.monotonic()


@dataclass
class Customer:
    user_id: str
    done: int = 0  # script steps acknowledged
    reply_to: str | None = None
    stale: bool = False  # the last acknowledgement (a 409) showed no question


async def _send(
    client: httpx.AsyncClient, customer: Customer, turn: dict[str, str], tally: Tally, clock: Clock
) -> None:
    """One script step: sent, and resent unchanged until it is answered."""
    body: dict[str, Any] = {"user_id": customer.user_id, **turn, "message_id": uuid.uuid4().hex}
    if customer.reply_to is not None:
        body["reply_to"] = customer.reply_to
    tally.messages += 1
    deadline = time.monotonic() + GIVE_UP_S
    attempt = 0
    while time.monotonic() < deadline:
        if attempt:
            tally.resends += 1
        attempt += 1
        try:
            response = await client.post(f"/api/v1/chat/{BRAND}", json=body)
        except httpx.TransportError:
            await asyncio.sleep(0.3)
            continue
        if response.status_code in (502, 503):
            await asyncio.sleep(0.3)
            continue
        if response.status_code == 409:
            # "Already handled": the customer moves on; no question token came with it.
            tally.refused_409 += 1
            clock.ack()
            customer.done += 1
            customer.stale = True
            return
        response.raise_for_status()
        if response.headers.get("idempotent-replayed") == "true":
            tally.replayed += 1
        messages = response.json()["messages"]
        questions = [m["question"] for m in messages if m.get("question")]
        out_of_turn = any("answer an earlier question" in m["text"] for m in messages)
        if out_of_turn and customer.stale:
            # Sent with the token from before a 409, so the bot did not file it: the customer
            # answers the question now shown, as a new message.
            customer.stale = False
            customer.reply_to = questions[-1] if questions else customer.reply_to
            body = {**body, "message_id": uuid.uuid4().hex, "reply_to": customer.reply_to}
            tally.messages += 1
            attempt = 0
            continue
        clock.ack()
        customer.done += 1
        customer.stale = False
        if questions:
            customer.reply_to = questions[-1]
        return
    raise TimeoutError("a message got no answer in time")


async def _converse(
    client: httpx.AsyncClient, customer: Customer, tally: Tally, clock: Clock
) -> None:
    for turn in SCRIPT:
        await _send(client, customer, turn, tally, clock)


async def _trial(
    node: Replica, victim: Victim, rng: random.Random, tally: Tally, tag: str
) -> list[Customer]:
    customers = [Customer(f"{tag}-{i}-{uuid.uuid4().hex[:6]}") for i in range(CONVERSATIONS)]
    limits = httpx.Limits(max_connections=CONVERSATIONS + 4, keepalive_expiry=1.0)
    async with httpx.AsyncClient(
        base_url=node.settings.gateway_url, timeout=90, limits=limits
    ) as client:
        # After a random number of answers, plus a few milliseconds: in the middle of a turn,
        # at a different point each time (parsing, the action's commit, the tracker's save...).
        clock = Clock(kill_after=rng.randint(1, CONVERSATIONS * len(SCRIPT) - 2))
        talks = [asyncio.ensure_future(_converse(client, c, tally, clock)) for c in customers]
        await clock.go.wait()
        await asyncio.sleep(rng.uniform(0.0, 0.12))
        node.kill(victim)
        killed = time.monotonic()
        tally.kills += 1
        node.respawn(victim)
        clock.ready = await asyncio.to_thread(node.wait_ready, victim)
        tally.down_s.append(clock.ready - killed)
        await asyncio.gather(*talks)
        if clock.first_answer is not None:
            tally.recovery_s.append(clock.first_answer - clock.ready)
    return customers


def check(node: Replica, customers: list[Customer], tally: Tally) -> None:
    """Compare what the store kept with what each customer said; count every difference."""
    key = node.settings.key
    for customer in customers:
        if customer.done < len(SCRIPT):
            tally.unfinished += 1
        kept = stored_result(node.stores, key, customer.user_id)
        steps: dict[str, list[str]] = {}
        for step, verbatim, _value in kept["answers"]:
            steps.setdefault(step, []).append(verbatim)
        for step, words in EXPECTED_ANSWERS.items():
            got = steps.get(step, [])
            if not got:
                tally.lost += 1
            elif len(got) > 1:
                tally.duplicated += len(got) - 1
            if any(w != words for w in got):
                tally.misfiled += 1
        tally.misfiled += sum(1 for step in steps if step not in EXPECTED_ANSWERS)
        consents = kept["consents"]
        for event in EXPECTED_CONSENTS:
            n = consents.count(event)
            tally.lost += n == 0
            tally.duplicated += max(0, n - 1)
        tally.duplicated += sum(1 for e in consents if e not in EXPECTED_CONSENTS)
    with node.stores.brand(BRAND) as session:
        _checked, problems = ledger.verify(session)
    tally.ledger_problems += len(problems)


def run(node: Replica, victim: Victim, trials: int, *, seed: int = 14) -> Tally:
    """`trials` kills of `victim` under load; the figures, with every conversation checked."""
    rng = random.Random(seed)
    total = Tally()
    for n in range(trials):
        tally = Tally(trials=1)
        customers = asyncio.run(_trial(node, victim, rng, tally, f"{victim}{n}"))
        check(node, customers, tally)
        total.add(tally)
    return total
