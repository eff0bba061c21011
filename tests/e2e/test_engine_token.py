"""The engine's API token never shows: not in `ps`, not in a log, not on the console.

Anyone on the machine can read every process's command line (`/proc/<pid>/cmdline`), and
consoles and log files get pasted into tickets; the token opens the whole engine API (trackers
included). It travels in the engine's environment instead, readable by its owner only.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bot.engine.replicas import settings_env
from bot.settings import ROOT, Settings
from tests.stack import Stack, make_settings

pytestmark = pytest.mark.engine
BRAND = "trailhead-outfitters"


def engine_cmdlines(run_dir: Path) -> list[bytes]:
    """The command lines of the engines started with this run directory's endpoints file."""
    marker = str(run_dir / "endpoints.yml").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"rasa_boot.py" in cmdline and marker in cmdline:
            found.append(cmdline)
    return found


def assert_hidden(settings: Settings) -> None:
    token = settings.derived("rasa-http-api")
    cmdlines = engine_cmdlines(settings.run_dir)
    assert cmdlines, "the engine process was not found"
    for cmdline in cmdlines:
        assert token.encode() not in cmdline
        assert b"--auth-token" not in cmdline
    # The token still guards the API: the engine got it, by its environment.
    status = f"{settings.rasa_url}/status"
    assert httpx.get(status, timeout=10).status_code == 401
    assert httpx.get(status, params={"token": token}, timeout=10).status_code == 200
    for path in settings.run_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_the_token_is_in_no_command_line_and_no_log(stack: Stack) -> None:
    stack.say(BRAND, "token-" + os.urandom(4).hex(), payload="/greet")
    assert_hidden(stack.settings)


@pytest.mark.slow
def test_candor_up_prints_no_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, purge_interval_s=0)
    env = {**os.environ, **settings_env(settings)}
    console = tmp_path / "console.txt"
    with console.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "up"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert process.poll() is None, console.read_text()
            assert time.monotonic() < deadline, console.read_text()
            try:
                if httpx.get(f"{settings.gateway_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        response = httpx.post(
            f"{settings.gateway_url}/api/v1/chat/{BRAND}",
            json={"user_id": "token-up", "payload": "/greet"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert_hidden(settings)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    output = console.read_text()
    assert "engine ready" in output
    assert settings.derived("rasa-http-api") not in output
