"""How well `nlu.listening` hears vague answers, against answers labelled by hand.

    .venv/bin/python benchmarks/listening.py              # tables, as in docs/analysis.md
    .venv/bin/python benchmarks/listening.py --errors     # also list every disagreement
    .venv/bin/python benchmarks/listening.py --pipeline blank

The set, ``nlu/listening_data/answers.jsonl``, holds free-text answers written for this purpose
in English, French, German and Spanish, each with the question it answers, whether a person
would probe it (``vague``) and how informative it is (``info``: 0 says nothing, 1 says
something general, 2 is specific). Vagueness is scored as a detector of the vague class
(precision, recall); informativeness by Spearman's rank correlation with ``info``, over all
answers and over the informative ones only (1 against 2), since the vague ones alone would make
the correlation look better than the score's finer ranking is.

Writes benchmarks/results/listening.json too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nlu.analysis.config import configure, current  # noqa: E402
from nlu.analysis.pipeline import get_pipeline  # noqa: E402
from nlu.listening import LANGUAGES, clear_cache, listen  # noqa: E402

DATA = ROOT / "nlu" / "listening_data" / "answers.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "listening.json"


@dataclass(frozen=True)
class Labelled:
    lang: str
    question: str
    answer: str
    vague: bool
    info: int


@dataclass(frozen=True)
class Scores:
    """One language's (or all languages') figures."""

    n: int
    vague: int  # how many are labelled vague
    precision: float
    recall: float
    spearman: float  # informativeness against `info`, all answers
    spearman_informative: float  # the same, over answers labelled 1 or 2 only


def load(path: Path = DATA) -> list[Labelled]:
    """The labelled answers, checked: a typo in the file must not silently change the figures."""
    rows: list[Labelled] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        raw = json.loads(line)
        row = Labelled(
            lang=str(raw["lang"]),
            question=str(raw["question"]),
            answer=str(raw["answer"]),
            vague=bool(raw["vague"]),
            info=int(raw["info"]),
        )
        if row.lang not in LANGUAGES or row.info not in (0, 1, 2):
            raise ValueError(f"{path.name}:{number}: bad lang or info")
        rows.append(row)
    return rows


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank (as Spearman's rho needs)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Pearson correlation of the ranks; 0.0 when either side is constant or too short."""
    if len(xs) != len(ys) or len(xs) < 2:
        return 0.0
    rx, ry = _ranks(xs), _ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return 0.0 if vx == 0 or vy == 0 else cov / (vx * vy) ** 0.5


def score(rows: Sequence[Labelled], heard: Sequence[tuple[bool, float]]) -> Scores:
    tp = sum(1 for r, h in zip(rows, heard, strict=True) if r.vague and h[0])
    fp = sum(1 for r, h in zip(rows, heard, strict=True) if not r.vague and h[0])
    fn = sum(1 for r, h in zip(rows, heard, strict=True) if r.vague and not h[0])
    informative = [(r.info, h[1]) for r, h in zip(rows, heard, strict=True) if r.info > 0]
    return Scores(
        n=len(rows),
        vague=sum(1 for r in rows if r.vague),
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        spearman=spearman([h[1] for h in heard], [r.info for r in rows]),
        spearman_informative=spearman([s for _, s in informative], [i for i, _ in informative]),
    )


def evaluate(rows: Sequence[Labelled]) -> tuple[dict[str, Scores], list[tuple[Labelled, bool]]]:
    """Figures per language and ``"all"``, and each row with what the detector said."""
    heard = [listen(r.answer, r.question, r.lang) for r in rows]
    pairs = [(h.vague, h.informativeness) for h in heard]
    out: dict[str, Scores] = {}
    for lang in (*LANGUAGES, "all"):
        idx = [i for i, r in enumerate(rows) if lang in ("all", r.lang)]
        out[lang] = score([rows[i] for i in idx], [pairs[i] for i in idx])
    return out, [(r, h.vague) for r, h in zip(rows, heard, strict=True)]


def table(scores: dict[str, Scores]) -> str:
    lines = [
        "| Language | Answers | Vague | Precision | Recall | Spearman (all) | Spearman (1 vs 2) |",
        "|---|---|---|---|---|---|---|",
    ]
    for lang, s in scores.items():
        lines.append(
            f"| {lang} | {s.n} | {s.vague} | {s.precision:.2f} | {s.recall:.2f} "
            f"| {s.spearman:.2f} | {s.spearman_informative:.2f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pipeline", default=None, help="auto (default), blank, or a package")
    parser.add_argument("--errors", action="store_true", help="list every disagreement")
    args = parser.parse_args(argv)
    if args.pipeline:
        configure(replace(current(), spacy_model=args.pipeline))
        clear_cache()
    rows = load()
    scores, said = evaluate(rows)
    print(f"pipeline: {get_pipeline().name} (English); blank fr, de, es")
    print(table(scores))
    if args.errors:
        for row, vague in said:
            if vague != row.vague:
                kind = "false vague" if vague else "missed"
                print(f"  {kind:11} [{row.lang}] {row.answer!r}  <- {row.question!r}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"pipeline": get_pipeline().name, "scores": {k: v.__dict__ for k, v in scores.items()}},
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
