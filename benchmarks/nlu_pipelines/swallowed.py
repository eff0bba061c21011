"""Swallowed answers and missed controls per language, on the labelled sets in nlu/rasa/eval/.

Runs inside .venv-rasa (Python 3.10), from the repo root, against one trained model:

    .venv-rasa/bin/python benchmarks/nlu_pipelines/swallowed.py MODEL.tar.gz [--langs en fr de es]
        [--threshold 0.7] [--json-out FILE]

Every item of nlu/rasa/eval/<lang>.yml is a message typed at an open survey question (see the
README there); `items` and `fresh` (the blind set) are scored separately. With the model's intent and confidence:

  swallowed answer   expect: answer, predicted as any control intent at >= threshold
                     (it would interrupt the question instead of being kept; target zero)
  missed control     expect: <control>, not predicted as that intent at >= threshold
                     (of which "wrong control": another control intent at >= threshold)

The control intents are read from consent_flows/contract.py (CONTROL_INTENTS), as threshold.py
does. This is the engine's side only: the interpreter also ends a survey on stop/goodbye only if
the text holds a stop word (interpreter.says_stop, English words today); see docs/nlu.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from threshold import CONTRACT, control_intents_from

EVAL = Path(__file__).resolve().parents[2] / "nlu" / "rasa" / "eval"


# `items` guided the fixes of the training data (more `inform` examples); `fresh` was written
# afterwards and never used to tune anything: the blind check.
SETS = ("items", "fresh")


def load_items(lang: str) -> dict[str, list[dict]]:
    import yaml

    doc = yaml.safe_load((EVAL / f"{lang}.yml").read_text(encoding="utf-8"))
    if doc.get("lang") != lang:
        raise SystemExit(f"{lang}.yml: lang is {doc.get('lang')!r}")
    return {name: doc.get(name) or [] for name in SETS}


def score(
    items: list[dict], predictions: list[tuple[str, float]], control: frozenset[str], t: float
) -> dict:
    swallowed, missed, wrong = [], [], []
    answers = controls = 0
    for item, (intent, confidence) in zip(items, predictions, strict=True):
        expect = item["expect"]
        if expect == "answer":
            answers += 1
            if intent in control and confidence >= t:
                swallowed.append(f"{item['text']} -> {intent} {confidence:.2f}")
        else:
            if expect not in control:
                raise SystemExit(f"{item['text']!r}: {expect!r} is not a control intent")
            controls += 1
            if not (intent == expect and confidence >= t):
                missed.append(f"{item['text']} ({expect}) -> {intent} {confidence:.2f}")
                if intent in control and confidence >= t:
                    wrong.append(item["text"])
    return {
        "answers": answers,
        "swallowed": len(swallowed),
        "controls": controls,
        "missed": len(missed),
        "wrong_control": len(wrong),
        "swallowed_items": swallowed,
        "missed_items": missed,
    }


async def predict(model: str, texts: list[str]) -> list[tuple[str, float]]:
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    agent = Agent.load(model)
    out = []
    for text in texts:
        parsed = await agent.parse_message(text)
        intent = parsed.get("intent") or {}
        out.append((intent.get("name") or "", float(intent.get("confidence") or 0.0)))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--langs", nargs="+", default=["en", "fr", "de", "es"])
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--json-out", metavar="FILE")
    args = parser.parse_args(argv)
    control = control_intents_from(CONTRACT)
    if not control:
        raise SystemExit(f"cannot read CONTROL_INTENTS from {CONTRACT}")
    items = {lang: load_items(lang) for lang in args.langs}
    texts = [i["text"] for lang in args.langs for name in SETS for i in items[lang][name]]
    predictions = iter(asyncio.run(predict(args.model, texts)))
    result: dict = {
        "model": os.path.basename(args.model),
        "threshold": args.threshold,
        "languages": {},
    }
    for lang in args.langs:
        result["languages"][lang] = {}
        for name in SETS:
            got = [next(predictions) for _ in items[lang][name]]
            found = score(items[lang][name], got, control, args.threshold)
            result["languages"][lang][name] = found
            print(
                f"{result['model']} {lang} {name}: swallowed {found['swallowed']}/"
                f"{found['answers']} answers, missed {found['missed']}/{found['controls']} "
                f"controls ({found['wrong_control']} as another control)"
            )
            for line in found["swallowed_items"]:
                print(f"    swallowed: {line}")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
