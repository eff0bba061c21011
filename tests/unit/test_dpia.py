"""`candor records BRAND --dpia`: the EDPB criteria read off the published flows and the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.brands import publish_flow_file
from bot.cli.app import app
from bot.dpia import screen
from tests.factories import EXAMPLES, flow_from
from tests.factories_store import BRAND, seeded


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CANDOR_SECRET_KEY", raising=False)
    data = seeded(tmp_path)
    publish_flow_file(data.stores, EXAMPLES / "trailhead-outfitters.yaml")
    publish_flow_file(data.stores, EXAMPLES / "northbank-onboarding.yaml")
    data.stores.dispose()
    return CliRunner()


def dpia(cli: CliRunner, brand: str, *extra: str) -> dict[str, object]:
    result = cli.invoke(app, ["records", brand, "--dpia", "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def applying(report: dict[str, object]) -> set[str]:
    criteria = report["criteria"]
    assert isinstance(criteria, list)
    return {c["key"] for c in criteria if c["applies"]}


def test_the_trailhead_flow_needs_a_dpia(cli: CliRunner) -> None:
    report = dpia(cli, BRAND)
    assert applying(report) == {
        "sensitive_data",
        "evaluation_or_scoring",
        "matching_datasets",
        "vulnerable_subjects",
    }
    assert report["dpia_likely_required"] is True
    assert report["subjects"] == 2


def test_an_adults_only_flow_without_profiling_meets_one_criterion(cli: CliRunner) -> None:
    report = dpia(cli, "northbank-app")
    assert applying(report) == {"sensitive_data"}
    assert report["dpia_likely_required"] is False


def test_large_scale_comes_from_the_stores_count(cli: CliRunner) -> None:
    assert "large_scale" not in applying(dpia(cli, BRAND))
    assert "large_scale" in applying(dpia(cli, BRAND, "--large-scale", "2"))


def test_text_output_gives_the_verdict(cli: CliRunner) -> None:
    result = cli.invoke(app, ["records", BRAND, "--dpia"])
    assert result.exit_code == 0, result.output
    assert "a DPIA is likely required" in result.stdout
    assert "4 of 5 criteria met" in result.stdout


def test_an_unknown_brand_is_a_clear_error(cli: CliRunner) -> None:
    result = cli.invoke(app, ["records", "no-such-brand", "--dpia"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_a_criterion_met_by_an_older_version_still_counts() -> None:
    base = """brand: b
version: {v}
{age}greeting: "Hi, I'm a bot."
purposes:
  p: {{notice: "We keep your answer to improve.", retention_days: 30{extra}}}
steps:
  - consent: p
  - ask: {{id: q, purpose: p, text: "Anything to add?"}}
  - end: "Bye"
"""
    old = flow_from(base.format(v=1, age="", extra=", allows: [segmentation]"))
    new = flow_from(base.format(v=2, age="min_age: 18\n", extra=""))
    assert not screen("b", [new], 0).met
    both = screen("b", [old, new], 0)
    assert {c.key for c in both.met} == {"evaluation_or_scoring", "vulnerable_subjects"}
    assert both.dpia_likely_required
    assert "v1" in next(c.reason for c in both.met if c.key == "evaluation_or_scoring")
