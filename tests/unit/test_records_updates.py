"""`candor records`: updates to followers are a processing activity of their own whenever the live
flow lets customers follow the brand, and the DPIA screening names them beside its criteria."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.brands import publish_flow_file
from bot.cli.app import app
from tests.dashboard.follow_factories import FOLLOW_FLOW
from tests.factories import EXAMPLES
from tests.factories_store import BRAND, seeded

OTHER = "northbank-app"  # its flow lets no one follow it


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CANDOR_SECRET_KEY", raising=False)
    data = seeded(tmp_path)
    publish_flow_file(data.stores, EXAMPLES / "trailhead-outfitters.yaml")
    publish_flow_file(data.stores, FOLLOW_FLOW)  # a later version, with a follow purpose
    publish_flow_file(data.stores, EXAMPLES / "northbank-onboarding.yaml")
    data.stores.dispose()
    return CliRunner()


def run(cli: CliRunner, *args: str) -> Any:
    result = cli.invoke(app, ["records", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_updates_to_followers_are_an_activity_with_their_data_cap_and_retention(
    cli: CliRunner,
) -> None:
    record = json.loads(run(cli, BRAND, "--format", "json"))
    [activity] = record["activities"]
    assert activity["activity"] == "updates to followers"
    assert activity["purpose"] == "updates"
    assert any("sealed" in d and "address per channel" in d for d in activity["data_categories"])
    assert activity["recipients"].startswith("none")
    assert activity["retention_days"] == 365
    assert "365 days" in activity["retention"]
    assert activity["cap"] == "at most one update a week"
    assert activity["quiet_hours"].startswith("21:00 to 09:00")
    assert activity["lawful_basis"].startswith("consent (Art. 6(1)(a))")
    # The purpose itself says what its consent covers: the follower's data, not "nothing".
    purposes = {p["purpose"]: p for p in record["purposes"]}
    assert purposes["updates"]["data_categories"] == activity["data_categories"]

    text = " ".join(run(cli, BRAND).split())  # as words: the console wraps lines
    assert "Also: updates to followers" in text
    assert "at most one update a week" in text


def test_no_activity_when_no_one_can_follow(cli: CliRunner) -> None:
    record = json.loads(run(cli, OTHER, "--format", "json"))
    assert record["activities"] == []
    assert "updates to followers" not in run(cli, OTHER)


def test_the_dpia_screening_names_updates_to_followers(cli: CliRunner) -> None:
    report = json.loads(run(cli, BRAND, "--dpia", "--format", "json"))
    [considered] = report["also_considered"]
    assert considered.startswith("updates to followers (updates (main v90))")
    assert "direct marketing based on profiling" in considered
    assert "at most one update a week" in considered
    scoring = next(c for c in report["criteria"] if c["key"] == "evaluation_or_scoring")
    assert "updates to followers are addressed to these groups" in scoring["reason"]
    assert "Also to weigh: updates to followers" in " ".join(run(cli, BRAND, "--dpia").split())

    other = json.loads(run(cli, OTHER, "--dpia", "--format", "json"))
    assert other["also_considered"] == []
