"""`candor updates` refusals, through Typer's CliRunner: each is "what is wrong" and "what to
do" on stderr with exit code 1, never a traceback; and the compose → show → cancel path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.app import app
from bot.settings import load_settings
from storage.stores import Stores
from tests.channels.updates_kit import BRAND, Person, add_followers, publish

RUNNER = CliRunner()


@pytest.fixture
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    monkeypatch.setenv("CANDOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CANDOR_SECRET_KEY", "k" * 40)
    stores = load_settings().open_stores()
    publish(stores, tmp_path)
    add_followers(stores, [Person(f"p{n}", "telegram", str(n)) for n in range(3)])
    yield stores
    stores.dispose()


def write(tmp_path: Path, audience: dict[str, object], name: str = "draft.yaml") -> Path:
    path = tmp_path / name
    doc = {
        "brand": BRAND,
        "title": "Winter tips",
        "texts": {"en": {"text": "Layer up."}},
        "audience": audience,
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def refused(args: list[str]) -> str:
    result = RUNNER.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return " ".join(result.stderr.split())


def test_an_audience_below_k_is_refused_with_what_to_do(stores: Stores, tmp_path: Path) -> None:
    said = refused(["updates", "preview", str(write(tmp_path, {"tags": ["runner"]}))])
    assert said == (
        "error: fewer than 10 followers have the interest 'runner' "
        "what to do: address a larger group, or wait until more people follow"
    )


def test_an_unknown_segment_is_refused(stores: Stores, tmp_path: Path) -> None:
    said = refused(["updates", "preview", str(write(tmp_path, {"segments": ["hikers"]}))])
    assert "there is no segment 'hikers'" in said
    assert "what to do: list segments with candor segments" in said


def test_an_audience_of_people_is_refused(stores: Stores, tmp_path: Path) -> None:
    path = write(tmp_path, {"subjects": ["p0", "p1"], "segments": ["runners"]})
    for command in ("compose", "preview"):
        said = refused(["updates", command, str(path)])
        assert "an audience is groups, never people" in said
        assert "name segments or interest tags" in said
        assert str(path) in said  # where, as every document error says


def test_queueing_a_composed_update_judges_it_again(stores: Stores, tmp_path: Path) -> None:
    composed = RUNNER.invoke(app, ["updates", "compose", str(write(tmp_path, {"tags": ["x"]}))])
    assert composed.exit_code == 0, composed.output
    update_id = composed.stdout.split("draft ", 1)[1].split()[0]
    said = refused(["updates", "queue", BRAND, update_id])
    assert said.startswith("error: fewer than 10 followers have the interest 'x' what to do:")

    shown = RUNNER.invoke(app, ["updates", "show", BRAND, update_id])
    assert shown.exit_code == 0, shown.output
    assert "Winter tips" in shown.stdout
    assert "draft" in shown.stdout
    listed = RUNNER.invoke(app, ["updates", "list", BRAND])
    assert update_id in listed.stdout
    cancelled = RUNNER.invoke(app, ["updates", "cancel", BRAND, update_id])
    assert cancelled.exit_code == 0, cancelled.output
    said = refused(["updates", "queue", BRAND, update_id])
    assert said == "error: this update was cancelled what to do: compose a new one"


def test_unknown_updates_brands_and_missing_bots_are_refused(
    stores: Stores, tmp_path: Path
) -> None:
    said = refused(["updates", "show", BRAND, "nope"])
    assert (
        said
        == f"error: no update nope what to do: see the updates with `candor updates list {BRAND}`"
    )
    said = refused(["updates", "list", "no-such-brand"])
    assert "there is no brand named 'no-such-brand'" in said
    said = refused(["updates", "send", BRAND])
    assert said.startswith(f"error: {BRAND} has no Telegram or Slack bot configured what to do:")
    path = tmp_path / "nobrand.yaml"
    path.write_text("title: T\ntexts: {en: {text: hi}}\naudience: {tags: [x]}\n")
    said = refused(["updates", "compose", str(path)])
    assert said.startswith("error: the draft names no brand what to do: add 'brand: <slug>'")
