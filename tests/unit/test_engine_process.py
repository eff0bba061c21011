"""Starting a child and waiting until it is healthy (bot/engine/process.py), with real children.

The engine, the gateway replicas and the benchmark's comparison engines are all started and
waited for by these functions, so their failure messages and their clean-up are checked here
once, on small Python children instead of Rasa.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.engine.process import answers_200, port_in_use, spawn, stop, wait_healthy
from tests.stack import free_port


class ChildFailed(RuntimeError):
    pass


def _python(code: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    return spawn(
        [sys.executable, "-c", code], log_path=tmp_path / "logs" / "child.log", env={}, cwd=tmp_path
    )


def _wait(
    child: subprocess.Popen[bytes],
    healthy: Callable[[], bool],
    what: str,
    tmp_path: Path,
    timeout_s: float = 30,
) -> None:
    """`wait_healthy` on a child of `_python` (its log in `tmp_path`), failing with ChildFailed."""
    wait_healthy(
        child,
        healthy,
        what=what,
        log_path=tmp_path / "logs" / "child.log",
        timeout_s=timeout_s,
        error=ChildFailed,
        interval_s=0.05,
    )


def _serving(port: int, delay_s: float) -> str:
    """A child that prints a line, then serves 200 on `port` after `delay_s`."""
    return (
        "import http.server, time\n"
        "print('child says hello', flush=True)\n"
        f"time.sleep({delay_s})\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers()\n"
        "    def log_message(self, *a):\n"
        "        pass\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )


def test_a_child_is_waited_for_until_it_answers_and_logs_privately(tmp_path: Path) -> None:
    port = free_port()
    child = _python(_serving(port, 0.5), tmp_path)
    try:
        assert not answers_200(f"http://127.0.0.1:{port}/")()  # not yet: still asleep
        _wait(child, answers_200(f"http://127.0.0.1:{port}/"), "the child", tmp_path)
        assert child.poll() is None
        assert port_in_use("127.0.0.1", port)
    finally:
        stop(child)
    log = tmp_path / "logs" / "child.log"
    assert "child says hello" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert not port_in_use("127.0.0.1", port)


def test_a_child_that_exits_is_reported_at_once_with_its_code_and_log(tmp_path: Path) -> None:
    child = _python("import sys; print('cannot start: no model'); sys.exit(3)", tmp_path)
    started = time.monotonic()
    with pytest.raises(ChildFailed) as caught:
        _wait(child, lambda: False, "the engine", tmp_path)
    assert time.monotonic() - started < 30  # the exit ends the wait, not the deadline
    log = tmp_path / "logs" / "child.log"
    assert str(caught.value) == f"the engine exited with code 3; see {log}"
    assert "cannot start: no model" in log.read_text()


def test_a_child_that_never_answers_is_reported_after_the_deadline(tmp_path: Path) -> None:
    child = _python("import time; time.sleep(60)", tmp_path)
    try:
        with pytest.raises(ChildFailed, match=r"^a gateway did not answer within 1s; see "):
            _wait(child, answers_200(f"http://127.0.0.1:{free_port()}/"), "a gateway", tmp_path, 1)
        assert child.poll() is None  # reporting is the caller's; stopping too
    finally:
        stop(child)
    assert child.returncode is not None


def test_stop_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    child = _python(
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n",
        tmp_path,
    )
    log = tmp_path / "logs" / "child.log"
    deadline = time.monotonic() + 30
    while "ready" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop(child, timeout_s=0.5)
    assert child.returncode == -9  # SIGTERM was ignored: SIGKILL ended it


def test_a_child_writes_owner_only_files_whatever_our_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        child = _python("open('made-by-child.txt', 'w').write('x')", tmp_path)
        assert child.wait(30) == 0
    finally:
        os.umask(previous)
    made = tmp_path / "made-by-child.txt"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
