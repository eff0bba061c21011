"""Every broken example is refused with the error it documents; every good example passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from consent_flows.loader import FlowInvalid, load_flow_file
from consent_flows.validator import validate
from tests.factories import EXAMPLES, flow_from

BROKEN = sorted((EXAMPLES / "broken").glob("*.yaml"))
GOOD = sorted(EXAMPLES.glob("*.yaml"))


def expectations(path: Path) -> tuple[list[str], int]:
    header = path.read_text().splitlines()[0].removeprefix("# expect:")
    parts = [p.strip() for p in header.split("|")]
    line = int(parts[-1].removeprefix("line "))
    return parts[:-1], line


def test_there_is_a_broken_example_per_validator_error() -> None:
    names = {p.stem for p in BROKEN}
    for required in (
        "unknown_key",
        "duplicate_id",
        "unreachable_step",
        "dangling_goto",
        "dangling_branch",
        "unknown_answer",
        "wrong_type",
        "never_ends",
        "no_consent",
        "declined_reaches_ask",
        "unsafe_expression",
        "malformed_yaml",
    ):
        assert required in names


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_example_is_refused_with_position_and_hint(path: Path) -> None:
    wanted, line = expectations(path)
    with pytest.raises(FlowInvalid) as caught:
        load_flow_file(path)
    texts = [f"{e.message} {e.hint}" for e in caught.value.errors]
    matching = [
        e
        for e, text in zip(caught.value.errors, texts, strict=True)
        if all(w in text for w in wanted)
    ]
    assert matching, f"no error says {wanted}; got {texts}"
    assert matching[0].line == line
    assert matching[0].file == str(path)
    assert matching[0].column >= 1


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_good_example_is_accepted(path: Path) -> None:
    assert validate(load_flow_file(path)) == []


def test_consent_proof_reports_the_breaking_path() -> None:
    with pytest.raises(FlowInvalid) as caught:
        load_flow_file(EXAMPLES / "broken" / "branch_skips_consent.yaml")
    [error] = caught.value.errors
    assert (
        "step 1 (consent 'a' given) → step 3 (if 'fast == true' is true) → step 6" in error.message
    )


def test_branch_decided_by_tags_is_not_explored_both_ways() -> None:
    # The ask after the branch is only reachable when 'vip' was tagged, which happens only
    # after consent b; the proof must follow that and accept the flow.
    flow = flow_from("""
brand: b
version: 1
greeting: "Hi, I'm a bot."
purposes:
  a: {notice: "We keep your first answer to improve.", retention_days: 30}
  b: {notice: "We keep your second answer to improve.", retention_days: 30}
steps:
  - consent: {purpose: b, declined: check}
  - tag: {add: [vip], purpose: b}
  - label: check
  - branch: {if: "'vip' in tags", then: more}
  - end: "Bye"
  - label: more
  - ask: {id: more, purpose: b, text: "More?"}
  - end: "Bye"
""")
    assert validate(flow) == []


def test_json_output_of_the_cli_lists_every_error(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from bot.cli.app import app

    result = CliRunner().invoke(
        app,
        [
            "flows",
            "validate",
            "--format",
            "json",
            str(EXAMPLES / "broken" / "unreachable_step.yaml"),
            str(EXAMPLES / "basics-store.yaml"),
        ],
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    broken, good = report["files"]
    assert good["valid"]
    assert not good["errors"]
    assert {e["line"] for e in broken["errors"]} == {11, 12}
    assert all(e["hint"] for e in broken["errors"])


def test_valid_flow_exits_zero() -> None:
    from typer.testing import CliRunner

    from bot.cli.app import app

    result = CliRunner().invoke(app, ["flows", "validate", *map(str, GOOD)])
    assert result.exit_code == 0, result.output
