from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlu.analysis import classifier as clf
from nlu.analysis.classifier import LABELS, TEST_FILE, TRAIN_FILE, get_classifier, load_examples
from nlu.analysis.train import LABELLED_FILE, baseline_all_labels, held_out, markdown_report

DOCS = Path(__file__).resolve().parents[2] / "docs" / "analysis.md"


def test_train_and_held_out_files_partition_the_labelled_answers() -> None:
    labelled = LABELLED_FILE.read_text(encoding="utf-8").splitlines()
    train = TRAIN_FILE.read_text(encoding="utf-8").splitlines()
    test = TEST_FILE.read_text(encoding="utf-8").splitlines()
    assert len(labelled) >= 400
    assert sorted(train + test) == sorted(labelled)
    assert not set(train) & set(test)
    assert 0.15 <= len(test) / len(labelled) <= 0.25
    held_out_labels = {label for line in test for label in json.loads(line)["labels"]}
    assert held_out_labels == set(LABELS)


def test_the_classifier_beats_the_trivial_baseline_on_the_held_out_set() -> None:
    rows = load_examples(TEST_FILE)
    scores = held_out(get_classifier(), rows)
    baseline = baseline_all_labels([r.labels for r in rows])
    assert scores["micro"].f1 > 0.6
    assert scores["micro"].f1 > baseline.f1 + 0.2
    for label in LABELS:
        assert scores[label].f1 > 0.5, label


def test_the_published_figures_are_the_current_ones() -> None:
    rows = load_examples(TEST_FILE)
    table = markdown_report(held_out(get_classifier(), rows), rows)
    assert table in DOCS.read_text(encoding="utf-8"), (
        "docs/analysis.md is out of date: paste the table from "
        "`.venv/bin/python -m nlu.analysis.train --markdown`"
    )


def test_scores_cover_every_label_and_tags_follow_the_threshold() -> None:
    classifier = get_classifier()
    texts = ["I need a waterproof jacket", "the app keeps crashing, so annoying"]
    scores = classifier.scores(texts)
    assert [set(s) for s in scores] == [set(LABELS)] * 2
    assert all(0.0 <= v <= 1.0 for s in scores for v in s.values())
    assert "need" in classifier.tags(texts)[0]
    assert "frustration" in classifier.tags(texts)[1]


def test_training_is_deterministic() -> None:
    rows = load_examples(TRAIN_FILE)[:120]
    texts = ["need boots", "love this place", "the queue was awful"]
    first = clf.Classifier(clf.train(rows, epochs=5), "a").scores(texts)
    second = clf.Classifier(clf.train(rows, epochs=5), "b").scores(texts)
    assert first == second


def test_the_model_is_cached_by_a_hash_of_its_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "train.jsonl"
    lines = TRAIN_FILE.read_text(encoding="utf-8").splitlines()
    data.write_text("\n".join(lines[:60]) + "\n", encoding="utf-8")
    cache = tmp_path / "textcat"
    monkeypatch.setattr(clf, "EPOCHS", 2)

    first = clf._load_or_train(data, cache)
    assert [p.name for p in cache.iterdir()] == [first.name.removeprefix("textcat-")]

    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cached model must not be retrained")

    monkeypatch.setattr(clf, "train", no_training)
    assert clf._load_or_train(data, cache).name == first.name

    monkeypatch.undo()
    monkeypatch.setattr(clf, "EPOCHS", 2)
    data.write_text("\n".join(lines[:61]) + "\n", encoding="utf-8")
    changed = clf._load_or_train(data, cache)
    assert changed.name != first.name
    assert [p.name for p in cache.iterdir()] == [changed.name.removeprefix("textcat-")]


def test_unknown_labels_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "hi", "labels": ["joy"]}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: unknown labels \['joy'\]"):
        load_examples(bad)
