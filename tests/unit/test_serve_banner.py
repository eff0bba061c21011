"""`candor up` (what `make run` runs) tells a new brand where its results are, once it is up.

The engine and the gateway are stood in for (`launcher.launch` returns at once, as it does
once the gateway answers), so this runs without a trained model; what is checked is the
banner the real command prints, and that the dashboard address in it is a page the gateway
serves for the demo brand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from bot.brands import publish_flow_file
from bot.cli import serve
from bot.cli.app import app
from bot.engine import launcher, preflight
from bot.gateway.app import create_app
from storage.stores import Stores
from tests.stack import make_settings


class Up:
    """What `launcher.launch` hands back once the gateway answers; `wait` ends at once."""

    stopped = False

    def wait(self) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Up:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_RUN_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("CANDOR_GATEWAY_PORT", "8123")
    up = Up()
    monkeypatch.setattr(launcher, "launch", lambda settings, progress: up)
    monkeypatch.setattr(preflight, "check", lambda settings: None)
    monkeypatch.setattr(serve, "port_in_use", lambda host, port: False)
    monkeypatch.setattr(serve, "exit_on_sigterm", lambda: None)  # pytest keeps its handlers
    monkeypatch.setattr(serve, "log_to_console", lambda settings: None)
    return up


def test_the_start_up_banner_names_the_demo_dashboard_and_how_to_get_its_key(
    started: Up,
) -> None:
    result = CliRunner().invoke(app, ["up"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Chat at http://127.0.0.1:8123/" in out
    assert "http://127.0.0.1:8123/brands/trailhead-outfitters/dashboard" in out
    assert "candor brands key trailhead-outfitters" in out
    # Printed once the gateway is up, then the run is stopped as after Ctrl-C.
    assert out.index("Candor is running") < out.index("Stopped.")
    assert started.stopped


def test_the_dashboard_address_in_the_banner_is_the_demo_brands_page(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    stores = Stores(settings.data_dir)
    try:
        publish_flow_file(stores, settings.demo_flow)
        text = str(serve.banner(settings).renderable)
        [path] = re.findall(re.escape(settings.gateway_url) + r"(/brands/[^\s\[]+)", text)
        assert path == f"/brands/{settings.demo_brand}/dashboard"
        with TestClient(create_app(settings, stores=stores)) as http:
            page = http.get(path)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
    finally:
        stores.dispose()
