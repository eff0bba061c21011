"""Summarise a run.sh output directory as the markdown tables used in docs/nlu.md.

Stdlib only. Usage:  python benchmarks/nlu_pipelines/summarize.py /tmp/candor-nlu-bench

Reads, for each pipeline P and fold seed S:
  OUT/cv/P/seedS/intent_report.json (+ intent_successes.json, intent_errors.json)
  OUT/latency/P.roundN.json          (latency.py --json-out, one per interleaved round)
  OUT/timings_*.tsv                  (kind, pipeline, seed, seconds; written by run.sh)

Accuracy / weighted F1 / macro F1 come from the pooled held-out report of each cross-validation
run (all 3 test folds together), averaged over the fold seeds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from pathlib import Path
from statistics import fmean, median

SUMMARY_KEYS = {"accuracy", "macro avg", "weighted avg", "micro avg"}
LATENCY_KEYS = ("p50_ms", "p95_ms", "mean_ms", "load_s")


def read_timings(out_dir: Path) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for path in sorted(out_dir.glob("timings_*.tsv")):
        for line in path.read_text(encoding="utf-8").splitlines():
            kind, pipeline, _seed, seconds = line.split("\t")
            out[(kind, pipeline)].append(float(seconds))
    return out


def predictions(cv_dir: Path) -> dict[tuple[str, str], tuple[str, float]]:
    """(text, true intent) -> (predicted intent, confidence)."""
    out = {}
    for name in ("intent_successes.json", "intent_errors.json"):
        path = cv_dir / name
        if path.exists():
            for item in json.loads(path.read_text(encoding="utf-8")):
                pred = item["intent_prediction"]
                out[(item["text"], item["intent"])] = (pred["name"], pred["confidence"])
    return out


def binom_two_sided(k: int, n: int) -> float:
    """Exact two-sided sign test p-value (McNemar on discordant pairs)."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2**n
    return min(1.0, 2 * tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--baseline", default="logreg")
    args = parser.parse_args(argv)
    out: Path = args.out

    pipelines = sorted(p.name for p in (out / "cv").iterdir() if p.is_dir())
    reports: dict[str, dict[str, dict]] = {}
    for p in pipelines:
        reports[p] = {
            d.name: json.loads((d / "intent_report.json").read_text(encoding="utf-8"))
            for d in sorted((out / "cv" / p).glob("seed*"))
        }
    print_run_info(out, reports)
    print_results(out, reports)
    if args.baseline in pipelines:
        print_paired(out, reports, args.baseline)
    intents = print_per_intent(reports)
    print_confusions(out, reports, intents)
    return 0


def print_run_info(out: Path, reports: dict[str, dict[str, dict]]) -> None:
    for step in ("cv", "train", "latency"):
        info = out / f"run_{step}.txt"
        if info.exists():
            lines = info.read_text(encoding="utf-8").strip().splitlines()
            print(f"- {step}: " + "; ".join(lines))
    supports = {
        p: {s: r["weighted avg"]["support"] for s, r in per.items()} for p, per in reports.items()
    }
    if len({n for per in supports.values() for n in per.values()}) > 1:
        print(f"- WARNING: the pipelines were evaluated on different data sizes: {supports}")
    print()


def print_results(out: Path, reports: dict[str, dict[str, dict]]) -> None:
    timings = read_timings(out)
    latency_rounds: dict[str, list[dict]] = {}
    print("## Results\n")
    print(
        "| pipeline | accuracy | weighted F1 | macro F1 | per seed (acc / wF1 / mF1) "
        "| train time (s) | CV wall (s) | p50 (ms) | p95 (ms) | mean (ms) | model load (s) |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for p, per in reports.items():
        reps = list(per.values())
        acc = [r["accuracy"] for r in reps]
        wf1 = [r["weighted avg"]["f1-score"] for r in reps]
        mf1 = [r["macro avg"]["f1-score"] for r in reps]
        per_seed = "; ".join(
            f"{s}: {r['accuracy']:.3f} / {r['weighted avg']['f1-score']:.3f} / "
            f"{r['macro avg']['f1-score']:.3f}"
            for s, r in per.items()
        )
        train = timings.get(("train", p))
        cv = timings.get(("cv", p))
        rounds = [
            json.loads(f.read_text(encoding="utf-8"))
            for f in sorted((out / "latency").glob(f"{p}.round*.json"))
        ]
        # Median over interleaved rounds of each round's p50 / p95 / mean.
        lat = {k: median(r[k] for r in rounds) for k in LATENCY_KEYS} if rounds else {}
        latency_rounds[p] = rounds
        cells = [
            p,
            f"{fmean(acc):.3f}",
            f"{fmean(wf1):.3f}",
            f"{fmean(mf1):.3f}",
            per_seed,
            f"{fmean(train):.1f}" if train else "-",
            f"{fmean(cv):.0f}" if cv else "-",
            *(f"{lat[k]:.2f}" if k in lat else "-" for k in LATENCY_KEYS),
        ]
        print("| " + " | ".join(cells) + " |")

    if latency_rounds:
        print("\nLatency rounds (p50 / p95 ms, 1-min load average):\n")
        for p, rounds in latency_rounds.items():
            cells = "; ".join(
                f"{r['p50_ms']:.2f} / {r['p95_ms']:.2f} (load {r['loadavg_1m']})" for r in rounds
            )
            print(f"- {p}: {cells}")


def print_paired(out: Path, reports: dict[str, dict[str, dict]], baseline: str) -> None:
    """Each pipeline against the baseline on identical folds (same seed => same folds)."""
    print(f"\n## Paired comparison with {baseline} (same folds, all seeds pooled)\n")
    print(f"| pipeline | only {baseline} right | only other right | sign-test p |")
    print("|---|---:|---:|---:|")
    for p in reports:
        if p == baseline:
            continue
        b_only = o_only = 0
        for seed in reports[p]:
            base = predictions(out / "cv" / baseline / seed)
            other = predictions(out / "cv" / p / seed)
            for key in base.keys() & other.keys():
                b_ok = base[key][0] == key[1]
                o_ok = other[key][0] == key[1]
                b_only += b_ok and not o_ok
                o_only += o_ok and not b_ok
        p_value = binom_two_sided(min(b_only, o_only), b_only + o_only)
        print(f"| {p} | {b_only} | {o_only} | {p_value:.3f} |")


def print_per_intent(reports: dict[str, dict[str, dict]]) -> list[str]:
    """Per-intent F1, mean over seeds; returns the intents."""
    pipelines = list(reports)
    print("\n## Per-intent F1 (mean over seeds)\n")
    intents = sorted(
        {k for per in reports.values() for r in per.values() for k in r} - SUMMARY_KEYS
    )
    print("| intent | support | " + " | ".join(pipelines) + " |")
    print("|---|---:|" + "---:|" * len(pipelines))
    for i in intents:
        support = max(r[i]["support"] for per in reports.values() for r in per.values() if i in r)
        f1s = [
            f"{fmean(r[i]['f1-score'] for r in reports[p].values()):.3f}"
            if all(i in r for r in reports[p].values())
            else "-"
            for p in pipelines
        ]
        print(f"| {i} | {support} | " + " | ".join(f1s) + " |")
    return intents


def print_confusions(out: Path, reports: dict[str, dict[str, dict]], intents: list[str]) -> None:
    print("\n## Confusions (true intent -> predicted, summed over seeds)\n")
    for p, per in reports.items():
        print(f"### {p}\n")
        print("| intent | recall | precision | confused with |")
        print("|---|---:|---:|---|")
        for i in intents:
            if not all(i in r for r in per.values()):
                continue
            conf: Counter[str] = Counter()
            for seed in per:
                for (_text, true), (pred, _c) in predictions(out / "cv" / p / seed).items():
                    if true == i and pred != i:
                        conf[pred] += 1
            rec = fmean(r[i]["recall"] for r in per.values())
            prec = fmean(r[i]["precision"] for r in per.values())
            top = ", ".join(f"{k} {v}" for k, v in conf.most_common(5))
            print(f"| {i} | {rec:.2f} | {prec:.2f} | {top} |")
        print()


if __name__ == "__main__":
    sys.exit(main())
