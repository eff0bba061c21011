"""The widget's idle sockets are closed by one sweeper per event loop
(`bot.gateway.idle_sweeper`), not by a timeout of their own (issue 19, "Memory").

The sweeper must close a socket exactly when `asyncio.timeout` did: after `ws_idle_s` without a
customer message, not before, never one that talks, with the same close code and reason; and it
must hold nothing of a socket that has gone. Its unit tests run on both event loops the gateway
may use (asyncio's and uvloop, uvicorn's choice when installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
import uuid
import weakref
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from bot.brands import publish_flow_file
from bot.channels import web
from bot.engine.launcher import Gateway as RunningGateway
from bot.gateway import idle_sweeper
from bot.gateway.app import create_app
from bot.gateway.idle_sweeper import IdleSweeper
from storage.stores import Stores
from tests.channels.conftest import BASICS_FLOW, BRAND, gateway_settings, wait_until
from tests.channels.standins import EngineStandIn, StandIns

IDLE_S = 0.3
# How early a deadline may be taken as due: within the loop clock's resolution (1 ms on
# uvloop, `IdleSweeper._sweep`), read on a clock uvloop rounds to the millisecond.
EARLY = 0.002
Loop = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Loop:
    """Run a coroutine to completion on a fresh loop of either kind."""
    if request.param == "uvloop":
        return lambda main: uvloop.run(main)
    return asyncio.run


async def _idle_wait(
    idle: IdleSweeper, woken: asyncio.Event, log: list[tuple[str, float]], talks: int = 0
) -> str:
    """What the widget's handler does around each receive (`web._next`), with `woken` standing
    in for the customer's next frame; `talks` frames are heard before it stays quiet."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    while True:
        idle.wait(task)
        log.append(("wait", loop.time()))
        try:
            await woken.wait()
        except asyncio.CancelledError:
            if not idle.expired(task):
                raise
            log.append(("idle", loop.time()))
            return "idle"
        finally:
            idle.forget(task)
        woken.clear()
        log.append(("heard", loop.time()))
        if talks == 0:
            return "heard"
        talks -= 1


def test_a_quiet_task_is_cancelled_after_its_deadline_and_not_before(run: Loop) -> None:
    async def main() -> None:
        idle = IdleSweeper(IDLE_S)
        log: list[tuple[str, float]] = []
        task = asyncio.create_task(_idle_wait(idle, asyncio.Event(), log))
        await asyncio.sleep(IDLE_S * 0.8)
        assert not task.done(), "closed before its deadline"
        assert await asyncio.wait_for(task, 10) == "idle"
        (_, began), (_, ended) = log
        assert ended - began >= IDLE_S - EARLY
        assert task.cancelling() == 0  # its cancel was withdrawn, as asyncio.timeout does
        assert len(idle) == 0
        assert idle._timer is None

    run(main())


def test_a_task_that_talks_gets_a_new_deadline_each_time(run: Loop) -> None:
    async def main() -> None:
        idle = IdleSweeper(IDLE_S)
        woken = asyncio.Event()
        log: list[tuple[str, float]] = []
        task = asyncio.create_task(_idle_wait(idle, woken, log, talks=6))
        # A message every third of the idle time (twice the idle time in all): never idle, with
        # two thirds of it to spare for a loop that a busy machine holds up.
        for _ in range(6):
            await asyncio.sleep(IDLE_S / 3)
            assert not task.done(), "a socket that talks was closed"
            woken.set()
        assert await asyncio.wait_for(task, 10) == "idle"
        kinds = [kind for kind, _ in log]
        assert kinds == ["wait", "heard"] * 6 + ["wait", "idle"]
        assert log[-1][1] - log[-2][1] >= IDLE_S - EARLY
        assert len(idle) == 0

    run(main())


def test_each_task_is_cancelled_at_its_own_deadline(run: Loop) -> None:
    async def main() -> None:
        idle = IdleSweeper(IDLE_S)
        logs: list[list[tuple[str, float]]] = [[] for _ in range(5)]
        woken = [asyncio.Event() for _ in logs]
        tasks = []
        for log, event in zip(logs, woken, strict=True):
            tasks.append(asyncio.create_task(_idle_wait(idle, event, log)))
            await asyncio.sleep(IDLE_S / 8)
        woken[0].set()  # the first to wait talks: the others still go at their own time
        assert await asyncio.gather(*tasks) == ["heard"] + ["idle"] * 4
        for log in logs[1:]:
            (_, began), (_, ended) = log
            assert IDLE_S - EARLY <= ended - began < IDLE_S + 0.25
        assert len(idle) == 0
        assert idle._timer is None

    run(main())


def test_a_cancel_from_elsewhere_is_not_taken_for_idleness(run: Loop) -> None:
    async def main() -> None:
        idle = IdleSweeper(IDLE_S)
        task = asyncio.create_task(_idle_wait(idle, asyncio.Event(), []))
        await asyncio.sleep(IDLE_S / 3)
        task.cancel()  # the server shutting down, say
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(idle) == 0
        assert idle._timer is None

    run(main())


def test_a_cancel_from_elsewhere_at_the_deadline_still_cancels(run: Loop) -> None:
    """Cancelled by someone else and then by the sweeper in the same turn of the loop: the
    task is cancelled, not closed as idle (asyncio.timeout re-raises too)."""

    async def main() -> None:
        idle = IdleSweeper(0.0)  # due as soon as the loop runs its timers
        task = asyncio.create_task(_idle_wait(idle, asyncio.Event(), []))
        await asyncio.sleep(0)  # it waits, its deadline already passed
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(idle) == 0

    run(main())


def test_a_task_already_being_cancelled_keeps_its_cancel(run: Loop) -> None:
    """A task that began to wait with a cancel pending (swallowed by its code) is closed as
    idle only for the sweeper's own cancel, as `asyncio.timeout` counts from when it began."""

    async def main() -> str:
        idle = IdleSweeper(IDLE_S)
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # not uncancelled: stays 1
            await asyncio.sleep(1)
        assert task.cancelling() == 1
        return await _idle_wait(idle, asyncio.Event(), [])

    assert run(main()) == "idle"


def test_the_sweeper_holds_no_task_that_stopped_waiting(run: Loop) -> None:
    async def main() -> None:
        idle = IdleSweeper(IDLE_S)
        woken = asyncio.Event()
        talker = asyncio.create_task(_idle_wait(idle, woken, []))
        quiet = asyncio.create_task(_idle_wait(idle, asyncio.Event(), []))
        await asyncio.sleep(0)
        assert len(idle) == 2
        woken.set()
        assert await talker == "heard"
        assert await quiet == "idle"
        refs = [weakref.ref(talker), weakref.ref(quiet)]
        del talker, quiet
        await asyncio.sleep(0)  # out of the step the last one's end woke this task in
        gc.collect()
        assert [ref() for ref in refs] == [None, None]
        assert len(idle) == 0
        assert idle._timer is None  # and no timer left holding the sweeper in the loop

    run(main())


def test_one_sweeper_per_loop_and_idle_time() -> None:
    async def main() -> tuple[IdleSweeper, IdleSweeper]:
        first = idle_sweeper.sweeper(IDLE_S)
        assert idle_sweeper.sweeper(IDLE_S) is first
        assert idle_sweeper.sweeper(IDLE_S * 2) is not first
        return first, idle_sweeper.sweeper(IDLE_S * 2)

    one, other = asyncio.run(main())
    again, _ = asyncio.run(main())
    assert again is not one  # a new loop, a new sweeper: a timer belongs to its loop
    ref = weakref.ref(one)
    del one, other, again
    gc.collect()
    assert ref() is None  # a closed loop takes its sweepers with it


# --- the widget's socket -----------------------------------------------------------------------


def _held() -> int:
    """Tasks held by every sweeper of this process."""
    return sum(
        len(s) for by_idle in list(idle_sweeper._SWEEPERS.values()) for s in by_idle.values()
    )


@pytest.fixture
def quick_idle(tmp_path: Path, engine: EngineStandIn, standins: StandIns) -> Iterator[TestClient]:
    """The gateway in process (the test client), its sockets idle after 0.6 s."""
    settings = gateway_settings(tmp_path, engine, standins, ws_idle_s=0.6)
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, BASICS_FLOW)
    try:
        with TestClient(create_app(settings, stores=stores)) as http:
            yield http
    finally:
        stores.dispose()


def _hello() -> str:
    return json.dumps({"type": "hello", "user_id": f"browser-{uuid.uuid4().hex[:10]}"})


def test_an_idle_widget_socket_is_closed_as_before(quick_idle: TestClient) -> None:
    with quick_idle.websocket_connect(f"/ws/chat/{BRAND}") as socket:
        socket.send_text(_hello())
        assert socket.receive_json()["type"] == "ready"
        began = time.monotonic()
        with pytest.raises(WebSocketDisconnect) as closed:
            socket.receive_json()
        waited = time.monotonic() - began
    assert closed.value.code == web.CLOSE_IDLE == 4000
    assert closed.value.reason == "idle; reconnect to chat again"
    assert waited >= 0.6 - 0.05  # measured from "ready": the server began waiting just before
    wait_until(lambda: _held() == 0, "the sweeper to let the closed socket go")


def test_a_widget_socket_that_talks_stays_open(quick_idle: TestClient) -> None:
    with quick_idle.websocket_connect(f"/ws/chat/{BRAND}") as socket:
        socket.send_text(_hello())
        assert socket.receive_json()["type"] == "ready"
        for n in range(5):  # 1.5 s in all, more than twice the idle time (0.6 s)
            time.sleep(0.3)
            socket.send_text(json.dumps({"type": "message", "id": f"m{n}", "text": "hello"}))
            assert socket.receive_json()["type"] == "reply"
        assert _held() == 1  # waiting for the next message, under the sweeper's eye
    wait_until(lambda: _held() == 0, "the sweeper to let the closed socket go")


@pytest.fixture
def served(tmp_path: Path, engine: EngineStandIn, standins: StandIns) -> Iterator[str]:
    """The gateway under uvicorn (uvloop, the lean WebSocket protocol), its sockets idle after
    0.6 s: the socket's URL."""
    settings = gateway_settings(tmp_path, engine, standins, ws_idle_s=0.6)
    stores = Stores(settings.data_dir)
    publish_flow_file(stores, BASICS_FLOW)
    running = RunningGateway(settings, stores)
    running.start()
    try:
        yield settings.gateway_url.replace("http", "ws") + f"/ws/chat/{BRAND}"
    finally:
        running.stop()
        stores.dispose()


def test_idle_and_talking_sockets_under_uvicorn(served: str) -> None:
    with connect(served, open_timeout=10) as quiet, connect(served, open_timeout=10) as talker:
        for socket in (quiet, talker):
            socket.send(_hello())
            assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        began = time.monotonic()
        for n in range(4):  # the talker speaks every 0.3 s, past the quiet one's deadline
            time.sleep(0.3)
            talker.send(json.dumps({"type": "message", "id": f"m{n}", "text": "hello"}))
            assert json.loads(talker.recv(timeout=10))["type"] == "reply"
        with pytest.raises(ConnectionClosed) as closed:
            quiet.recv(timeout=10)
        assert time.monotonic() - began >= 0.6 - 0.05
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 4000
        assert closed.value.rcvd.reason == "idle; reconnect to chat again"
        wait_until(lambda: _held() == 1, "the sweeper to hold the talking socket alone")
    wait_until(lambda: _held() == 0, "the sweeper to let the closed sockets go")
