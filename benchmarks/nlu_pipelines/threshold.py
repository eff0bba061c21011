"""Control-intent confidence threshold, from `rasa test nlu --cross-validation --successes` output.

Candor lets a control intent (stop, skip, why, ...; CONTROL_INTENTS in consent_flows/contract.py,
always read from there) interrupt a survey question only if its
confidence is >= the threshold (consent_flows/interpreter.py); otherwise the message is kept as
the customer's answer. For each threshold this prints, over the held-out predictions:

  (a) inform -> interrupt: share of true `inform` examples predicted as a control intent at
      >= threshold (a survey answer wrongly treated as a command);
  (b) control recognised: share of true control-intent examples predicted as their own intent
      at >= threshold;
  plus two diagnostics: the share of true control examples that would trigger a *different*
  control intent at >= threshold (e.g. "stop" acted on as "withdraw_consent"), and the share of
  true affirm/deny/greet examples (replies to consent questions) that would interrupt.

Stdlib only, for the engine's Python 3.10, which has no Candor installed: the intents are parsed
from the contract's source, never copied here, so they cannot go stale. Usage:

    python benchmarks/nlu_pipelines/threshold.py CV_DIR [CV_DIR ...] [--json-out FILE]
                                                 [--control stop,skip,...]

Each CV_DIR holds intent_successes.json and intent_errors.json. Several directories (e.g. repeated
cross-validations with different fold seeds) are pooled.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections import Counter
from pathlib import Path

CONTRACT = Path(__file__).resolve().parents[2] / "consent_flows" / "contract.py"
CONSENT_REPLIES = frozenset({"affirm", "deny", "greet"})
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def control_intents_from(contract: Path) -> frozenset[str] | None:
    """CONTROL_INTENTS as written in consent_flows/contract.py (parsed, not imported)."""
    try:
        tree = ast.parse(contract.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None
    for node in tree.body:
        target: ast.expr
        value: ast.expr | None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "CONTROL_INTENTS" and value:
            if isinstance(value, ast.Call) and value.args:  # frozenset({...})
                value = value.args[0]
            try:
                return frozenset(ast.literal_eval(value))
            except ValueError:
                return None
    return None


def load_predictions(cv_dir: Path) -> list[tuple[str, str, float]]:
    """(true intent, predicted intent, confidence) for every held-out example in cv_dir."""
    rows: list[tuple[str, str, float]] = []
    found = False
    for name in ("intent_successes.json", "intent_errors.json"):
        path = cv_dir / name
        if not path.exists():
            continue  # Rasa skips the file when it would be empty
        found = True
        for item in json.loads(path.read_text(encoding="utf-8")):
            pred = item["intent_prediction"]
            rows.append((item["intent"], pred["name"], float(pred["confidence"] or 0.0)))
    if not found:
        raise SystemExit(f"{cv_dir}: no intent_successes.json / intent_errors.json")
    return rows


def share(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


def evaluate(
    rows: list[tuple[str, str, float]], control_intents: frozenset[str], thresholds=THRESHOLDS
) -> list[dict]:
    inform = [r for r in rows if r[0] == "inform"]
    control = [r for r in rows if r[0] in control_intents]
    replies = [r for r in rows if r[0] in CONSENT_REPLIES]
    out = []
    for t in thresholds:
        inform_fp = sum(1 for _, p, c in inform if p in control_intents and c >= t)
        recognised = sum(1 for y, p, c in control if p == y and c >= t)
        wrong_control = sum(1 for y, p, c in control if p != y and p in control_intents and c >= t)
        reply_fp = sum(1 for _, p, c in replies if p in control_intents and c >= t)
        out.append(
            {
                "threshold": t,
                "inform_total": len(inform),
                "inform_interrupt": inform_fp,
                "inform_interrupt_rate": share(inform_fp, len(inform)),
                "control_total": len(control),
                "control_recognised": recognised,
                "control_recognised_rate": share(recognised, len(control)),
                "control_wrong_control": wrong_control,
                "control_wrong_control_rate": share(wrong_control, len(control)),
                "reply_total": len(replies),
                "reply_interrupt": reply_fp,
                "reply_interrupt_rate": share(reply_fp, len(replies)),
            }
        )
    return out


def per_intent_recognition(
    rows: list[tuple[str, str, float]], control_intents: frozenset[str], threshold: float
) -> dict:
    """Per control intent: share predicted as itself at >= threshold."""
    result = {}
    for intent in sorted(control_intents):
        mine = [r for r in rows if r[0] == intent]
        ok = sum(1 for _, p, c in mine if p == intent and c >= threshold)
        result[intent] = share(ok, len(mine))
    return result


def markdown(table: list[dict]) -> str:
    lines = [
        "| threshold | (a) inform wrongly interrupts | (b) control recognised "
        "| control -> other control | affirm/deny/greet interrupt |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in table:
        lines.append(
            f"| {r['threshold']:.1f} "
            f"| {r['inform_interrupt_rate']:.1%} ({r['inform_interrupt']}/{r['inform_total']}) "
            f"| {r['control_recognised_rate']:.1%} "
            f"({r['control_recognised']}/{r['control_total']}) "
            f"| {r['control_wrong_control_rate']:.1%} "
            f"({r['control_wrong_control']}/{r['control_total']}) "
            f"| {r['reply_interrupt_rate']:.1%} ({r['reply_interrupt']}/{r['reply_total']}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cv_dirs", nargs="+", type=Path, help="rasa test nlu --out directories")
    parser.add_argument("--json-out", metavar="FILE", help="also write the table as JSON")
    parser.add_argument(
        "--control",
        help=f"comma-separated control intents (default: CONTROL_INTENTS parsed from {CONTRACT})",
    )
    args = parser.parse_args(argv)

    if args.control:
        control = frozenset(i.strip() for i in args.control.split(",") if i.strip())
        source = "--control"
    else:
        parsed = control_intents_from(CONTRACT)
        if not parsed:
            parser.error(f"cannot read CONTROL_INTENTS from {CONTRACT}; name them with --control")
        control, source = parsed, str(CONTRACT)

    rows: list[tuple[str, str, float]] = []
    for d in args.cv_dirs:
        rows.extend(load_predictions(d))
    table = evaluate(rows, control)
    print(f"{len(rows)} held-out predictions from {', '.join(str(d) for d in args.cv_dirs)}")
    print(f"control intents ({source}): {', '.join(sorted(control))}\n")
    print(markdown(table))
    print("\nPer control intent, recognised at >= threshold:")
    print("| intent | n | " + " | ".join(f"{t:.1f}" for t in THRESHOLDS) + " |")
    print("|---|---:|" + "---:|" * len(THRESHOLDS))
    per = {t: per_intent_recognition(rows, control, t) for t in THRESHOLDS}
    counts = Counter(y for y, _, _ in rows)
    for intent in sorted(control):
        cells = " | ".join(f"{per[t][intent]:.0%}" for t in THRESHOLDS)
        print(f"| {intent} | {counts[intent]} | {cells} |")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "sources": [str(d) for d in args.cv_dirs],
                    "control_intents": sorted(control),
                    "table": table,
                },
                indent=2,
            )
            + "\n",
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
