"""`candor webhooks` and `candor records` through Typer's CliRunner, on a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from actions.runtime import Runtime
from bot.cli.app import app
from bot.settings import load_settings
from tests.webhooks.kit import BRAND, Receiver, publish, serve, survey

RUNNER = CliRunner()


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_SECRET_KEY", "k" * 40)
    stores = load_settings().open_stores()
    yield publish(stores, tmp_path)
    stores.dispose()


def run(*args: str) -> str:
    result = RUNNER.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_add_send_erase_and_the_record_of_who_was_told(runtime: Runtime) -> None:
    got = Receiver()
    url, server = serve(got)
    try:
        out = run("webhooks", "add", BRAND, "crm", url, "--events", "answer.recorded")
        got.secret = next(w for w in out.split() if w.startswith("whsec_"))
        assert "crm" in run("webhooks", "list", BRAND)
        assert got.secret not in run("webhooks", "list", BRAND)
        survey(runtime, "alice", "a rain jacket", "queues at the till")
        assert "1 delivered" in run("webhooks", "send", BRAND, "--until-done")
        assert [g.payload["type"] for g in got.accepted()] == ["answer.recorded"]

        run("erase", BRAND, "alice", "--yes")
        assert "1 delivered" in run("webhooks", "send", BRAND)
        told = json.loads(
            run("webhooks", "deliveries", BRAND, "--subject", "alice", "--format", "json")
        )
        assert [(t["event"], t["state"]) for t in told] == [("subject.erased", "delivered")]
        record = json.loads(run("records", BRAND, "--format", "json"))
        (crm, helpdesk) = record["recipients"]
        assert crm["recipient"] == "crm"
        assert crm["purposes"] == ["needs"]
        assert crm["endpoint"]["notices_delivered"] == 1
        assert crm["endpoint"]["last_told_at"]
        assert helpdesk["endpoint"] is None  # declared, not connected: sent nothing
        assert "1 notice(s) delivered" in " ".join(run("records", BRAND).split())
    finally:
        server.shutdown()
        server.server_close()


def test_refusals_say_what_to_do(runtime: Runtime) -> None:
    for args in (
        ["webhooks", "add", BRAND, "crm", "http://crm.example/x"],
        ["webhooks", "add", BRAND, "crm", "https://crm.example/x", "--events", "nope"],
        ["webhooks", "rotate", BRAND, "ghost"],
        ["webhooks", "replay", BRAND, "msg_nope"],
    ):
        result = RUNNER.invoke(app, args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert "what to do" in result.stderr
