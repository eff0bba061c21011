"""The training data and the held-out sets of each language (docs/nlu.md, "Languages").

Fast: reads YAML only, no engine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bot.engine import supervisor
from consent_flows.contract import CONTROL_INTENTS

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "nlu" / "rasa" / "data"
EVAL = ROOT / "nlu" / "rasa" / "eval"
LANGS = ("fr", "de", "es")
_yaml = YAML(typ="safe", pure=True)


def _examples(path: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for block in _yaml.load(path.read_text(encoding="utf-8"))["nlu"]:
        lines = [line.strip()[2:].strip() for line in block["examples"].splitlines()]
        found.setdefault(block["intent"], []).extend(line for line in lines if line)
    return found


ENGLISH = _examples(DATA / "nlu.yml")


@pytest.mark.parametrize("lang", list(LANGS))
def test_every_intent_has_thirty_examples_in_each_language(lang: str) -> None:
    found = _examples(DATA / f"nlu_{lang}.yml")
    assert set(found) == set(ENGLISH), "the same intents as nlu.yml"
    short = {i: len(set(e)) for i, e in found.items() if i != "inform" and len(set(e)) < 30}
    assert short == {}
    assert len(found["inform"]) >= 80


def test_the_engine_trains_on_every_language_file() -> None:
    inputs = {p.name for p in supervisor.training_inputs()}
    assert {"nlu.yml", "nlu_fr.yml", "nlu_de.yml", "nlu_es.yml"} <= inputs


def test_no_example_has_two_intents_across_languages() -> None:
    seen: dict[str, set[str]] = {}
    for path in sorted(DATA.glob("nlu*.yml")):
        for intent, examples in _examples(path).items():
            for text in examples:
                seen.setdefault(text.casefold(), set()).add(intent)
    assert {t: i for t, i in seen.items() if len(i) > 1} == {}


@pytest.mark.parametrize("lang", ["en", *LANGS])
def test_the_held_out_sets_are_held_out_and_labelled(lang: str) -> None:
    doc = _yaml.load((EVAL / f"{lang}.yml").read_text(encoding="utf-8"))
    assert doc["lang"] == lang
    training = {
        t.casefold() for p in DATA.glob("nlu*.yml") for e in _examples(p).values() for t in e
    }
    for name, minimum in (("items", 40), ("fresh", 15)):
        items = doc[name]
        assert sum(i["expect"] == "answer" for i in items) >= minimum * 3 // 8
        assert {i["expect"] for i in items} - {"answer"} <= CONTROL_INTENTS
        assert [i["text"] for i in items if i["text"].casefold() in training] == []


def test_the_published_language_figures_cover_both_designs() -> None:
    report = json.loads((ROOT / "benchmarks" / "results" / "nlu_languages.json").read_text())
    langs = {row["lang"]: row for row in report["languages"]}
    assert set(langs) == {"en", *LANGS}
    for row in langs.values():
        for design in ("multi", "single"):
            assert row[design]["accuracy"] is not None
            assert row[design]["swallowed"] is not None
