"""matplotlib is the `bench` extra: the gateway and the CLI load without it, and `candor bench`
without it says how to install it before measuring anything (not after a ten-minute run)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

import bot.bench
from bot.cli.app import app
from bot.settings import ROOT


def test_the_gateway_and_the_cli_load_without_importing_matplotlib() -> None:
    code = (
        "import sys\n"
        "import bot.gateway.app, bot.cli.app, bot.bench.plots, bot.engine.launcher\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_bench_without_matplotlib_stops_before_starting_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[dict[str, Any]] = []

    def run(**options: Any) -> dict[str, Any]:
        started.append(options)
        raise AssertionError("the benchmark started")

    monkeypatch.setattr(bot.bench, "run", run)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    monkeypatch.delitem(sys.modules, "matplotlib.pyplot", raising=False)
    result = CliRunner().invoke(app, ["bench", "--systems", "stock", "--concurrency", "1"])
    assert result.exit_code == 1, result.output
    assert not started
    message = " ".join(result.stderr.split())
    assert "error: candor bench draws its plots with matplotlib, which is not installed" in message
    assert "pip install -e '.[bench]'" in message
