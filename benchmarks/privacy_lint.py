"""How well the privacy linter's detector reads questions, on a labelled set in four languages.

The set (nlu/privacy_lint/data/labelled_questions.jsonl) has questions a survey might ask,
each labelled innocent, identifying (a direct identifier: e-mail, phone, address, name, date
of birth, ID or card numbers) or special (a GDPR Art. 9 category), in English, French, German
and Spanish. Every third question of each language and label is held out (`split: test`): the
term lists were tuned on the others (`dev`) only. Both were written by the term lists' author,
so a third part (`blind`: harder, indirect wordings) was written after the tuning and never
tuned on; its figures are the honest ones. Precision and recall are per class, one against the
rest (see nlu/privacy_lint/evaluate.py).

    .venv/bin/python benchmarks/privacy_lint.py            # all questions
    .venv/bin/python benchmarks/privacy_lint.py --split blind --misses

Results go to benchmarks/results/privacy_lint.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlu.privacy_lint.detect import LANGUAGES
from nlu.privacy_lint.evaluate import CLASSES, predict, questions, score

RESULTS = Path(__file__).resolve().parent / "results" / "privacy_lint.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--split", choices=("dev", "test", "blind"), help="only this part of the set"
    )
    parser.add_argument("--misses", action="store_true", help="print every wrong prediction")
    args = parser.parse_args(argv)
    items = questions(split=args.split)
    predictions = predict(items)
    table = score(items, predictions)
    print(f"{len(items)} questions ({args.split or 'all'})")
    print(f"{'language':<9}{'class':<13}{'precision':>10}{'recall':>8}{'tp':>5}{'fp':>5}{'fn':>5}")
    for lang in (*LANGUAGES, "all"):
        for cls in CLASSES:
            s = table[lang, cls]
            print(
                f"{lang:<9}{cls:<13}{s.precision:>10.2f}{s.recall:>8.2f}{s.tp:>5}{s.fp:>5}{s.fn:>5}"
            )
    if args.misses:
        for q, p in zip(items, predictions, strict=True):
            if p != {q.label}:
                print(f"MISS [{q.lang} {q.split}] {q.label} -> {sorted(p)}: {q.text}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "split": args.split or "all",
                "questions": len(items),
                "scores": [
                    {
                        "language": lang,
                        "class": cls,
                        "precision": round(table[lang, cls].precision, 3),
                        "recall": round(table[lang, cls].recall, 3),
                    }
                    for lang in (*LANGUAGES, "all")
                    for cls in CLASSES
                ],
            },
            indent=2,
        )
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
