"""Tables of docs/nlu.md, "Languages", from the output directory of languages.sh.

Stdlib + PyYAML (the engine's .venv-rasa has both):

    .venv-rasa/bin/python benchmarks/nlu_pipelines/languages.py /tmp/candor-nlu-lang \
        [--json-out benchmarks/results/nlu_languages.json]

Per language, for the multilingual model (design `multi`, all four data files in one model) and
for the model of that language alone (design `en`, `fr`, `de`, `es`): accuracy and macro F1 of the
3-fold cross-validation (pooled held-out predictions, mean over the seeds run), training time
on the full data, model size, engine memory (VmRSS with the model loaded) and latency per message,
and the swallowed answers / missed controls of swallowed.py.

The multilingual model's held-out predictions are split by language by looking each example up
in the data file it came from (nlu.yml is English, nlu_<lang>.yml the others). The few examples
that are in two files with the same intent ("stop", "ok", "bye") are given to the files in turn.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, defaultdict, deque
from pathlib import Path

import yaml

LANGS = ("en", "fr", "de", "es")


def lang_of_file(path: Path) -> str:
    stem = path.stem
    return "en" if stem == "nlu" else stem.removeprefix("nlu_")


def sources(data_dir: Path) -> dict[tuple[str, str], deque[str]]:
    found: dict[tuple[str, str], deque[str]] = defaultdict(deque)
    for path in sorted(data_dir.glob("nlu*.yml"), key=lambda p: LANGS.index(lang_of_file(p))):
        lang = lang_of_file(path)
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in block.get("examples", "").splitlines():
                text = line.strip()[2:].strip()
                if text:
                    found[(text.lower(), block["intent"])].append(lang)
    return found


def predictions(cv_dir: Path) -> list[tuple[str, str, str]]:
    rows = []
    for name in ("intent_successes.json", "intent_errors.json"):
        path = cv_dir / name
        if path.exists():
            for item in json.loads(path.read_text(encoding="utf-8")):
                rows.append((item["text"], item["intent"], item["intent_prediction"]["name"]))
    if not rows:
        raise SystemExit(f"{cv_dir}: no predictions")
    return rows


def scores(rows: list[tuple[str, str]]) -> dict[str, float]:
    """Accuracy and macro F1 over (gold, predicted) pairs."""
    gold = Counter(g for g, _ in rows)
    said = Counter(p for _, p in rows)
    hit = Counter(g for g, p in rows if g == p)
    f1s = []
    for intent in gold:
        precision = hit[intent] / said[intent] if said[intent] else 0.0
        recall = hit[intent] / gold[intent]
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {
        "examples": len(rows),
        "accuracy": round(sum(hit.values()) / len(rows), 3),
        "macro_f1": round(sum(f1s) / len(f1s), 3),
    }


def split_by_language(
    rows: list[tuple[str, str, str]], origin: dict[tuple[str, str], deque[str]]
) -> dict[str, list[tuple[str, str]]]:
    queues = {k: deque(v) for k, v in origin.items()}
    out: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for text, gold, pred in rows:
        key = (text.lower(), gold)
        queue = queues.get(key)
        if not queue:
            langs = origin.get(key)
            if not langs:
                raise SystemExit(f"{text!r} ({gold}) is in no data file")
            lang = langs[-1]
        else:
            lang = queue.popleft()
        out[lang].append((gold, pred))
    return out


def timings(out: Path, kind: str) -> dict[str, list[float]]:
    found: dict[str, list[float]] = defaultdict(list)
    path = out / f"timings_{kind}.tsv"
    if path.exists():
        for line in path.read_text().splitlines():
            _kind, design, _seed, secs = line.split("\t")
            found[design].append(float(secs))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)
    out: Path = args.out
    origin = sources(out / "data" / "multi")

    cv: dict[str, dict[str, dict]] = {"multi": {}, "single": {}}
    for seed_dir in sorted((out / "cv" / "multi").glob("seed*")):
        for lang, rows in split_by_language(predictions(seed_dir), origin).items():
            cv["multi"].setdefault(lang, []).append(scores(rows))
    for lang in LANGS:
        for seed_dir in sorted((out / "cv" / lang).glob("seed*")):
            rows = [(g, p) for _t, g, p in predictions(seed_dir)]
            cv["single"].setdefault(lang, []).append(scores(rows))

    def mean(runs: list[dict], key: str) -> float:
        return round(sum(r[key] for r in runs) / len(runs), 3)

    train = timings(out, "train")
    latency = {p.stem: json.loads(p.read_text()) for p in sorted((out / "latency").glob("*.json"))}
    swallowed = {
        p.stem.removeprefix("swallowed_"): json.loads(p.read_text())
        for p in sorted(out.glob("swallowed_*.json"))
    }
    table = []
    for lang in LANGS:
        row: dict = {"lang": lang}
        for design, key in (("multi", "multi"), ("single", lang)):
            runs = cv[design].get(lang, [])
            lat = latency.get(key, {})
            sw_sets = swallowed.get(key, {}).get("languages", {}).get(lang, {})
            sw = sw_sets.get("items", {})
            fresh = sw_sets.get("fresh", {})
            row[design] = {
                "cv_examples": runs[0]["examples"] if runs else None,
                "accuracy": mean(runs, "accuracy") if runs else None,
                "macro_f1": mean(runs, "macro_f1") if runs else None,
                "cv_seeds": len(runs),
                "train_s": train.get(key, [None])[-1],
                "model_mib": round(lat["model_bytes"] / 2**20, 2) if lat else None,
                "rss_mib": lat.get("rss_mib"),
                "p50_ms": lat.get("p50_ms"),
                "p95_ms": lat.get("p95_ms"),
                "swallowed": sw.get("swallowed"),
                "answers": sw.get("answers"),
                "missed": sw.get("missed"),
                "controls": sw.get("controls"),
                "wrong_control": sw.get("wrong_control"),
                "swallowed_items": sw.get("swallowed_items", []),
                "missed_items": sw.get("missed_items", []),
                "fresh": {
                    k: fresh.get(k)
                    for k in ("answers", "swallowed", "controls", "missed", "wrong_control")
                },
                "fresh_swallowed_items": fresh.get("swallowed_items", []),
                "fresh_missed_items": fresh.get("missed_items", []),
            }
        table.append(row)

    lines = [
        "| Language | Design | CV examples | Accuracy | Macro F1 | Train | Model | Engine RSS "
        "| p50 / p95 per message | Swallowed answers | Missed controls | Fresh: swallowed "
        "| Fresh: missed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in table:
        for design, name in (("multi", "one multilingual model"), ("single", "its own model")):
            r = row[design]
            lines.append(
                f"| {row['lang']} | {name} | {r['cv_examples']} | {r['accuracy']} | "
                f"{r['macro_f1']} | {r['train_s']} s | {r['model_mib']} MiB | {r['rss_mib']} MiB | "
                f"{r['p50_ms']} / {r['p95_ms']} ms | {r['swallowed']}/{r['answers']} | "
                f"{r['missed']}/{r['controls']} | {r['fresh']['swallowed']}/"
                f"{r['fresh']['answers']} | {r['fresh']['missed']}/{r['fresh']['controls']} |"
            )
    print("\n".join(lines))
    if args.json_out:
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip()
        except OSError:
            commit = ""
        report = {
            "command": "bash benchmarks/nlu_pipelines/languages.sh",
            "run": (out / "run.txt").read_text().strip() if (out / "run.txt").exists() else "",
            "base_commit": commit,
            "threshold": 0.7,
            "languages": table,
        }
        args.json_out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"\nwrote {args.json_out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
