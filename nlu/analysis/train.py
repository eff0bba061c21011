"""Train the verbatim classifier and report its precision and recall on the held-out set.

    python -m nlu.analysis.train             # train if the data changed, print the report
    python -m nlu.analysis.train --markdown  # the same report as the table in docs/analysis.md
    python -m nlu.analysis.train --split     # re-split data/labelled.jsonl 80/20 (seed 13)

The held-out file is never seen in training; the split is fixed and committed, so the numbers
in the docs can be reproduced exactly.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nlu.analysis.classifier import (
    DATA_DIR,
    LABELS,
    TEST_FILE,
    TRAIN_FILE,
    Classifier,
    Labelled,
    get_classifier,
    load_examples,
)

__all__ = [
    "Scores",
    "baseline_all_labels",
    "evaluate",
    "held_out",
    "markdown_report",
    "split",
    "text_report",
]

LABELLED_FILE = DATA_DIR / "labelled.jsonl"
SPLIT_SEED = 13
TEST_SHARE = 0.2


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 for one label (or micro/macro over all), with its support."""

    precision: float
    recall: float
    f1: float
    support: int


def _prf(tp: int, fp: int, fn: int) -> Scores:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return Scores(round(p, 3), round(r, 3), round(f, 3), tp + fn)


def evaluate(gold: Sequence[frozenset[str]], pred: Sequence[frozenset[str]]) -> dict[str, Scores]:
    """Per-label scores plus ``micro`` and ``macro`` averages."""
    counts = {label: [0, 0, 0] for label in LABELS}
    for g, p in zip(gold, pred, strict=True):
        for label in LABELS:
            c = counts[label]
            c[0] += label in g and label in p
            c[1] += label not in g and label in p
            c[2] += label in g and label not in p
    out = {label: _prf(*c) for label, c in counts.items()}
    tp, fp, fn = (sum(c[i] for c in counts.values()) for i in range(3))
    out["micro"] = _prf(tp, fp, fn)
    per = [out[label] for label in LABELS]
    out["macro"] = Scores(
        round(sum(s.precision for s in per) / len(per), 3),
        round(sum(s.recall for s in per) / len(per), 3),
        round(sum(s.f1 for s in per) / len(per), 3),
        tp + fn,
    )
    return out


def baseline_all_labels(gold: Sequence[frozenset[str]]) -> Scores:
    """Micro scores of the trivial tagger that gives every text every label."""
    return evaluate(gold, [frozenset(LABELS)] * len(gold))["micro"]


def held_out(classifier: Classifier, rows: Sequence[Labelled]) -> dict[str, Scores]:
    """The classifier's scores on ``rows`` (the held-out set by default)."""
    return evaluate([r.labels for r in rows], classifier.tags([r.text for r in rows]))


def split(source: Path = LABELLED_FILE, seed: int = SPLIT_SEED) -> tuple[int, int]:
    """Shuffle the labelled answers with a fixed seed and write train.jsonl and test.jsonl."""
    lines = [ln for ln in source.read_text(encoding="utf-8").splitlines() if ln.strip()]
    random.Random(seed).shuffle(lines)
    n_test = round(len(lines) * TEST_SHARE)
    TEST_FILE.write_text("\n".join(lines[:n_test]) + "\n", encoding="utf-8")
    TRAIN_FILE.write_text("\n".join(lines[n_test:]) + "\n", encoding="utf-8")
    return len(lines) - n_test, n_test


def markdown_report(scores: dict[str, Scores], rows: Sequence[Labelled]) -> str:
    """The held-out table as published in docs/analysis.md."""
    base = baseline_all_labels([r.labels for r in rows])
    out = ["| Label | Precision | Recall | F1 | Support |", "|---|---|---|---|---|"]
    for name in [*LABELS, "micro", "macro"]:
        s = scores[name]
        out.append(f"| {name} | {s.precision:.2f} | {s.recall:.2f} | {s.f1:.2f} | {s.support} |")
    out.append(
        f"| baseline: every label on every answer (micro) | {base.precision:.2f} "
        f"| {base.recall:.2f} | {base.f1:.2f} | {base.support} |"
    )
    return "\n".join(out)


def text_report(scores: dict[str, Scores], rows: Sequence[Labelled]) -> str:
    """The held-out table for a terminal."""
    base = baseline_all_labels([r.labels for r in rows])
    out = [f"{'label':<12} {'P':>6} {'R':>6} {'F1':>6} {'n':>5}"]
    for name in [*LABELS, "micro", "macro"]:
        s = scores[name]
        out.append(f"{name:<12} {s.precision:>6.3f} {s.recall:>6.3f} {s.f1:>6.3f} {s.support:>5}")
    out.append(f"{'baseline':<12} {base.precision:>6.3f} {base.recall:>6.3f} {base.f1:>6.3f}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", action="store_true", help="re-split labelled.jsonl first")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", action="store_true", help="print the scores as JSON")
    parser.add_argument(
        "--model-dir", type=Path, help="cache trained models here (default: .candor/models)"
    )
    args = parser.parse_args(argv)
    if args.split:
        n_train, n_test = split()
        print(f"split {LABELLED_FILE.name}: {n_train} train, {n_test} held out")
    started = time.perf_counter()
    classifier = get_classifier(args.model_dir)
    ready = time.perf_counter() - started
    test = load_examples(TEST_FILE)
    scores = held_out(classifier, test)
    if args.json:
        base = baseline_all_labels([r.labels for r in test])
        data = {k: vars(v) for k, v in scores.items()} | {"baseline_all_labels": vars(base)}
        print(json.dumps(data, indent=2))
        return 0
    n_train = len(load_examples(TRAIN_FILE))
    print(f"{classifier.name}: {n_train} training answers, ready in {ready:.1f}s")
    print(f"held-out set: {len(test)} answers ({TEST_FILE.relative_to(DATA_DIR.parent)})")
    print(markdown_report(scores, test) if args.markdown else text_report(scores, test))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
