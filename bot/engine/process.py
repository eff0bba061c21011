"""Child processes Candor starts, then waits for until they answer: the Rasa engine, gateway
replicas and the benchmark's comparison engines.

They are all started one way (output to an owner-only log, no stdin, taken down with this
process on Linux) and waited for one way (until a health probe answers, the child exits, or a
deadline passes, each failure naming the log to read), so that a fix to either applies to
every kind of child.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import httpx

from storage.backends import PRIVATE_UMASK, private_file

Child = subprocess.Popen[bytes]


def die_with_parent() -> None:
    """Runs in the child before it execs. Linux: it gets SIGTERM if the process that started it
    dies without cleaning up, so no engine or gateway outlives a killed `candor`.

    Also the child's umask: its databases (with -wal and -shm), logs and anything else it
    writes are its owner's only, whatever the umask of whoever started Candor.
    """
    os.umask(PRIVATE_UMASK)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def spawn(command: Sequence[str], *, log_path: Path, env: Mapping[str, str], cwd: Path) -> Child:
    """Start `command` with its stdout and stderr appended to `log_path` (created 0600)."""
    private_file(log_path)
    with log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )


def wait_healthy(
    child: Child,
    healthy: Callable[[], bool],
    *,
    what: str,
    log_path: Path,
    timeout_s: float,
    error: type[Exception] = RuntimeError,
    interval_s: float = 0.5,
) -> None:
    """Return once `healthy()` is true. Raise `error`, naming `what` and the log, as soon as
    the child exits, or when it has not become healthy within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise error(f"{what} exited with code {child.returncode}; see {log_path}")
        if healthy():
            return
        time.sleep(interval_s)
    raise error(f"{what} did not answer within {timeout_s:.0f}s; see {log_path}")


def answers_200(url: str) -> Callable[[], bool]:
    """A probe for `wait_healthy`: whether a GET of `url` answers 200 (no answer: not yet)."""

    def probe() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


def stop(child: Child, timeout_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if the child has not exited within `timeout_s`."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
