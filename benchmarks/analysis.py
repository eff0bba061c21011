"""Verbatim analysis: throughput of analyse_many, and theme discovery on 100k verbatims.

    .venv/bin/python benchmarks/analysis.py                  # both parts, defaults below
    .venv/bin/python benchmarks/analysis.py --themes-n 20000 # a quicker themes run

Each part runs in a fresh child process, so its peak RSS is its own and the model load is not
counted as throughput. Wall time and CPU time are both reported: on a shared machine the
CPU time per verbatim is the steadier figure. The corpus is the labelled survey answers in
nlu/analysis/data, varied (fillers, typos, two answers joined, an email or phone number in 1 of
20) with a fixed seed, so runs are comparable. Prints a table and writes
benchmarks/results/analysis.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "analysis.json"
LABELLED = ROOT / "nlu" / "analysis" / "data" / "labelled.jsonl"

PREFIXES = ["", "", "", "honestly ", "tbh ", "well, ", "hmm ", "Ok so ", "so "]
SUFFIXES = ["", "", "", " :)", " thanks", " tbh", "!", "...", " - that's about it", " lol"]


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def corpus(n: int, seed: int = 11) -> list[str]:
    """``n`` varied survey answers built from the labelled data (deterministic)."""
    rng = random.Random(seed)
    base = [json.loads(line)["text"] for line in LABELLED.read_text().splitlines() if line]
    out: list[str] = []
    for i in range(n):
        text = rng.choice(base)
        if rng.random() < 0.25:
            text = f"{text}. Also {rng.choice(base)}"
        words = [_typo(w, rng) if rng.random() < 0.04 else w for w in text.split()]
        text = rng.choice(PREFIXES) + " ".join(words) + rng.choice(SUFFIXES)
        if i % 20 == 7:
            text += f" - email me at shopper{i}@example.com"
        elif i % 20 == 17:
            text += f", or call 07700 9{i % 100000:05d}"
        out.append(text)
    return out


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def part_analyse(n: int, model: str) -> dict[str, object]:
    """Verbatims per second through analyse_many, after a warm-up batch."""
    from nlu.analysis.analyse import analyse_many
    from nlu.analysis.config import AnalysisConfig, configure
    from nlu.analysis.pipeline import get_pipeline

    configure(AnalysisConfig(spacy_model=model))  # what CANDOR_SPACY_MODEL does in the gateway
    from nlu.analysis.taxonomy import Taxonomy

    taxonomy = Taxonomy.from_mapping(
        {
            "hiking": ["hike", "hiking", "trail", "walking"],
            "climbing": ["climb", "climbing", "bouldering"],
            "coffee": ["coffee", "espresso", "latte", "beans"],
            "banking": ["account", "card", "savings", "transfer"],
        }
    )
    texts = corpus(n)
    analyse_many(texts[:200], taxonomy=taxonomy)  # load the model, train/load the classifier
    started, cpu = time.perf_counter(), time.process_time()
    results = analyse_many(texts, taxonomy=taxonomy)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    pipeline = get_pipeline()
    return {
        "pipeline": pipeline.name,
        "features": pipeline.features,
        "verbatims": n,
        "seconds": round(seconds, 2),
        "verbatims_per_s": round(n / seconds, 1),
        "cpu_seconds": round(cpu, 2),
        "verbatims_per_cpu_s": round(n / cpu, 1),
        "with_pii": sum(1 for r in results if r.pii),
        "peak_rss_mb": _peak_rss_mb(),
    }


def part_themes(n: int) -> dict[str, object]:
    """Wall time and peak memory of find_themes on ``n`` verbatims."""
    from nlu.analysis.pii import redact
    from nlu.analysis.themes import find_themes

    texts = corpus(n)
    redact("warm up the spaCy pipeline, Sam")  # quotes are redacted with NER: load it first
    before = _peak_rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    themes = find_themes(texts)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "verbatims": n,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "themes": len(themes),
        "peak_rss_mb": _peak_rss_mb(),
        "rss_before_mb": before,
        "largest": [{"label": t.label, "size": t.size, "quote": t.quotes[0]} for t in themes[:5]],
    }


def _child(args: list[str]) -> dict[str, object]:
    cmd = [sys.executable, __file__, "--child", *args]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    """Run the parts, print a table, write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyse-n", type=int, default=3000)
    parser.add_argument("--themes-n", type=int, default=100_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "analyse":
            result = part_analyse(int(rest[0]), rest[1])
        else:
            result = part_themes(int(rest[0]))
        print(json.dumps(result))
        return 0

    print(f"analysis throughput on {args.analyse_n} varied answers ...", flush=True)
    throughput = [_child(["analyse", str(args.analyse_n), m]) for m in ("auto", "blank")]
    print(f"theme discovery on {args.themes_n} answers ...", flush=True)
    themes = _child(["themes", str(args.themes_n)])
    # Other work on the machine slows wall time; CPU time is the steadier figure.
    load = [round(x, 2) for x in os.getloadavg()]

    print()
    print(f"load average during the run: {load}")
    print(f"{'pipeline':<30} {'verbatims/s':>12} {'per CPU-s':>10} {'peak RSS MB':>12}")
    for row in throughput:
        print(
            f"{row['pipeline']:<30} {row['verbatims_per_s']:>12} "
            f"{row['verbatims_per_cpu_s']:>10} {row['peak_rss_mb']:>12}"
        )
    print(
        f"\nthemes: {themes['verbatims']} verbatims -> {themes['themes']} themes in "
        f"{themes['seconds']} s ({themes['cpu_seconds']} CPU-s), "
        f"peak RSS {themes['peak_rss_mb']} MB"
    )
    for t in cast("list[dict[str, Any]]", themes["largest"]):
        print(f"  {t['size']:>6}  {t['label']}")

    import sklearn
    import spacy

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "command": "python benchmarks/analysis.py"
                + (f" --analyse-n {args.analyse_n}" if args.analyse_n != 3000 else "")
                + (f" --themes-n {args.themes_n}" if args.themes_n != 100_000 else ""),
                "machine": {
                    "cpus": os.cpu_count(),
                    "load_average_1_5_15_min": load,
                    "python": platform.python_version(),
                    "spacy": spacy.__version__,
                    "scikit_learn": sklearn.__version__,
                },
                "throughput": throughput,
                "themes": themes,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
