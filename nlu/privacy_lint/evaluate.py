"""Precision and recall of the detector on the labelled questions, shared by the benchmark and
the unit test so that both measure the same thing.

Each question is labelled `innocent`, `identifying` (asks for a direct identifier) or `special`
(asks about a GDPR Art. 9 category). Classes are scored one against the rest: a question is
predicted `identifying` when any identifier is found, `special` when any category is found and
`innocent` when nothing is, so a question that names both counts for both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from nlu.privacy_lint.detect import LANGUAGES, Detection, detector

LABELLED = Path(__file__).resolve().parent / "data" / "labelled_questions.jsonl"
CLASSES = ("innocent", "identifying", "special")


@dataclass(frozen=True)
class Question:
    lang: str
    label: str
    kind: str
    text: str
    split: str


@dataclass(frozen=True)
class Score:
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def questions(path: Path = LABELLED, *, split: str | None = None) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    found = [Question(**row) for row in rows]
    return [q for q in found if split is None or q.split == split]


def predicted(detection: Detection) -> set[str]:
    classes = set()
    if detection.identifiers:
        classes.add("identifying")
    if detection.categories:
        classes.add("special")
    return classes or {"innocent"}


def predict(items: list[Question]) -> list[set[str]]:
    out: list[set[str]] = [set() for _ in items]
    for lang in LANGUAGES:
        idx = [i for i, q in enumerate(items) if q.lang == lang]
        for i, found in zip(
            idx, detector(lang).detect_many(items[i].text for i in idx), strict=True
        ):
            out[i] = predicted(found)
    return out


def score(items: list[Question], predictions: list[set[str]]) -> dict[tuple[str, str], Score]:
    """Scores keyed by (language or "all", class)."""
    table: dict[tuple[str, str], Score] = {}
    for lang in (*LANGUAGES, "all"):
        for cls in CLASSES:
            pairs = [
                (q.label == cls, cls in p)
                for q, p in zip(items, predictions, strict=True)
                if lang in ("all", q.lang)
            ]
            table[lang, cls] = Score(
                tp=sum(a and p for a, p in pairs),
                fp=sum(p and not a for a, p in pairs),
                fn=sum(a and not p for a, p in pairs),
            )
    return table
