"""One idle timer per event loop for every widget socket waiting on its customer (issue 19).

`asyncio.timeout` around each socket's wait made, for every idle socket, a `Timeout`, a timer
handle with a copy of the context, and (under uvloop) a libuv timer: about 0.7 KB for each open
conversation, which spends almost all its life waiting (benchmarks/widget_memory.py). All
sockets of a gateway wait for the same `ws_idle_s`, so the order they started waiting in is the
order their deadlines fall in: an ordered dict of waiting tasks is a queue of deadlines, and one
timer, set for the earliest, serves them all. Expiry cancels the waiting task exactly as
`asyncio.timeout` does, so a socket closes at the same moment and in the same way as before.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import OrderedDict


class IdleSweeper:
    """Cancels tasks that wait longer than `idle_s`, with one timer for all of them.

    A task calls `wait` before it waits and `forget` once it stops (in a `finally`), and asks
    `expired` when it is cancelled: True means the cancel was this sweeper's and is withdrawn,
    as `asyncio.timeout` withdraws its own before raising `TimeoutError`. The sweeper holds a
    task only between `wait` and `forget`, so never one whose socket has closed.
    """

    __slots__ = ("__weakref__", "_baselines", "_expired", "_idle_s", "_timer", "_waiting")

    def __init__(self, idle_s: float) -> None:
        self._idle_s = idle_s
        # Task -> its deadline (loop time), oldest first: deadlines rise with insertion order
        # because every task waits the same `idle_s`. OrderedDict, not dict: its first entry
        # is found without walking over the holes that removals leave at a dict's front.
        self._waiting: OrderedDict[asyncio.Task[object], float] = OrderedDict()
        # A waiting task's `cancelling()` count when it began to wait, kept only when not 0
        # (rare): a cancel asked for by anyone else since then is never taken for idleness.
        self._baselines: dict[asyncio.Task[object], int] = {}
        # Tasks this sweeper cancelled -> their `baseline`, until they ask `expired`.
        self._expired: dict[asyncio.Task[object], int] = {}
        self._timer: asyncio.TimerHandle | None = None

    def __len__(self) -> int:
        """Tasks held: waiting, or cancelled and not yet forgotten."""
        return len(self._waiting.keys() | self._expired.keys() | self._baselines.keys())

    def wait(self, task: asyncio.Task[object]) -> None:
        """`task` starts waiting now; it is cancelled if still waiting `idle_s` from now."""
        loop = task.get_loop()
        self._waiting.pop(task, None)  # to the end: its deadline is now the latest
        deadline = loop.time() + self._idle_s
        self._waiting[task] = deadline
        if task.cancelling():
            self._baselines[task] = task.cancelling()
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._sweep)

    def expired(self, task: asyncio.Task[object]) -> bool:
        """Whether `task`, being cancelled, was cancelled by this sweeper and by nothing else
        since; if so the cancel is withdrawn (`Task.uncancel`), as `asyncio.timeout` does."""
        baseline = self._expired.pop(task, None)
        self._forget_waiting(task)
        return baseline is not None and task.uncancel() <= baseline

    def forget(self, task: asyncio.Task[object]) -> None:
        """`task` no longer waits (it heard from its socket, or the socket went away)."""
        if self._expired.pop(task, None) is not None:
            task.uncancel()  # cancelled, yet it went on: the cancel is not left pending
        self._forget_waiting(task)

    def _forget_waiting(self, task: asyncio.Task[object]) -> None:
        self._waiting.pop(task, None)
        self._baselines.pop(task, None)
        if not self._waiting and self._timer is not None:
            # Nothing left to time: no timer keeps the loop (or this sweeper) busy.
            self._timer.cancel()
            self._timer = None

    def _sweep(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        # Due once the loop runs a timer set for then, as `asyncio.timeout`'s own would be:
        # asyncio runs timers within its clock's resolution, uvloop rounds to milliseconds.
        now = loop.time() + getattr(loop, "_clock_resolution", 0.001)
        waiting = self._waiting
        while waiting:
            task, deadline = next(iter(waiting.items()))
            if deadline > now:
                self._timer = loop.call_at(deadline, self._sweep)
                return
            del waiting[task]
            baseline = self._baselines.pop(task, 0)
            if not task.done():
                self._expired[task] = baseline
                task.cancel()


# One sweeper per event loop and idle time: a timer belongs to its loop, and the test client
# runs each socket in a loop of its own. Weak keys: a closed loop takes its sweepers with it.
_SWEEPERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, IdleSweeper]] = (
    weakref.WeakKeyDictionary()
)


def sweeper(idle_s: float) -> IdleSweeper:
    """The running loop's sweeper for sockets idle longer than `idle_s`."""
    loop = asyncio.get_running_loop()
    by_idle = _SWEEPERS.get(loop)
    if by_idle is None:
        by_idle = _SWEEPERS[loop] = {}
    found = by_idle.get(idle_s)
    if found is None:
        found = by_idle[idle_s] = IdleSweeper(idle_s)
    return found
