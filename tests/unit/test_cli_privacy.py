"""The privacy commands: Art. 30 record, key rotation, purge, export and erase."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.brands import publish_flow_file
from bot.cli.app import app
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, seeded


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CANDOR_SECRET_KEY", raising=False)
    data = seeded(tmp_path)
    publish_flow_file(data.stores, EXAMPLES / "trailhead-outfitters.yaml")
    data.stores.dispose()
    return CliRunner()


def test_records_of_processing_come_from_the_flow(cli: CliRunner) -> None:
    result = cli.invoke(app, ["records", BRAND, "--format", "json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    purposes = {p["purpose"]: p for p in record["purposes"]}
    assert set(purposes) == {"needs", "frustrations", "tailored_content"}
    assert purposes["frustrations"]["sensitive"] is True
    assert "Art. 9" in purposes["frustrations"]["lawful_basis"]
    assert purposes["needs"]["retention_days"] == 365
    assert record["recipients"].startswith("none")
    assert any("AES-256-GCM" in m for m in record["security_measures"])


def test_keys_rotate_then_export_still_reads(cli: CliRunner) -> None:
    rotated = cli.invoke(app, ["keys", "rotate", BRAND])
    assert rotated.exit_code == 0
    assert "version 2" in rotated.stdout
    exported = cli.invoke(app, ["export", BRAND, "alice"])
    assert exported.exit_code == 0
    assert {a["verbatim"] for a in json.loads(exported.stdout)["answers"]} == {
        "a rain jacket",
        "queues at the till",
    }


def test_purge_with_a_moved_clock(cli: CliRunner) -> None:
    result = cli.invoke(app, ["purge", "--now", "2099-01-01T00:00:00+00:00"])
    assert result.exit_code == 0
    assert f"{BRAND}: 4 answer(s)" in result.stdout


def test_erase_needs_a_known_subject_and_confirms(cli: CliRunner) -> None:
    assert cli.invoke(app, ["erase", BRAND, "nobody", "--yes"]).exit_code == 1
    refused = cli.invoke(app, ["erase", BRAND, "alice"], input="n\n")
    assert refused.exit_code == 1
    done = cli.invoke(app, ["erase", BRAND, "alice", "--yes"])
    assert done.exit_code == 0
    assert "2 answer(s)" in done.stdout
    assert cli.invoke(app, ["export", BRAND, "alice"]).exit_code == 1
