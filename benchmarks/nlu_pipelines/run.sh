#!/usr/bin/env bash
# Reproduces docs/nlu.md end to end: 3-fold cross-validation of each candidate pipeline, training
# time, per-message latency and the control-intent threshold table.
#
#   bash benchmarks/nlu_pipelines/run.sh          # from the repo root; 30-45 min on 2 cores
#
# Environment (all optional):
#   OUT=/tmp/candor-nlu-bench      results (cv/, latency/, threshold/, timings.tsv, summary.md)
#   MODELS=/tmp/nlumodels          trained models (<pipeline>.tar.gz)
#   PIPELINES="logreg diet sklearn_svm"
#   CV_SEEDS="0 1"                 one 3-fold cross-validation per seed
#   STEPS="cv train latency threshold"   a subset re-runs only those steps (STEPS=latency)
#   LATENCY_ROUNDS=3               interleaved latency rounds (the summary reports medians)
#
# Rasa 3.6 shuffles the cross-validation folds with numpy's global random generator and has no
# seed option, so each `rasa test nlu` runs through a two-line wrapper that seeds numpy first:
# every pipeline then sees the same folds for a given seed (a paired comparison), and reruns give
# the same folds. The arguments are exactly those of `rasa test nlu`.
# The Rasa training cache is disabled (RASA_MAX_CACHE_SIZE=0) so that every training really
# trains (honest times) and nothing is written to the repo's .rasa/ directory.
set -euo pipefail

if [[ ! -f config.yml || ! -f nlu/rasa/data/nlu.yml || ! -d benchmarks/nlu_pipelines ]]; then
    echo "run.sh: run me from the repo root (bash benchmarks/nlu_pipelines/run.sh)" >&2
    exit 2
fi

PY=.venv-rasa/bin/python
BENCH=benchmarks/nlu_pipelines
NLU=nlu/rasa/data/nlu.yml
OUT=${OUT:-/tmp/candor-nlu-bench}
MODELS=${MODELS:-/tmp/nlumodels}
PIPELINES=${PIPELINES:-"logreg diet sklearn_svm"}
CV_SEEDS=${CV_SEEDS:-"0 1"}
STEPS=${STEPS:-"cv train latency threshold"}
LATENCY_ROUNDS=${LATENCY_ROUNDS:-3}

export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 PYTHONDONTWRITEBYTECODE=1
export RASA_MAX_CACHE_SIZE=0 RASA_CACHE_DIRECTORY="$OUT/cache"

mkdir -p "$OUT"/{cv,logs,latency,threshold} "$MODELS"
step() { [[ " $STEPS " == *" $1 "* ]]; }

# `rasa ...` with numpy's global generator seeded first ($1 = seed).
rasa_seeded() {
    local seed=$1
    shift
    "$PY" -c 'import sys, numpy; numpy.random.seed(int(sys.argv.pop(1))); sys.argv[0] = "rasa"
from rasa.__main__ import main; main()' "$seed" "$@"
}

# timed KIND PIPELINE SEED LOG -- command...: run, log output, append the wall time to
# $OUT/timings_KIND.tsv
timed() {
    local kind=$1 pipeline=$2 seed=$3 log=$4
    shift 5
    local start=$EPOCHREALTIME
    if ! "$@" > "$log" 2>&1; then
        echo "FAILED: $* (see $log)" >&2
        tail -n 20 "$log" >&2
        return 1
    fi
    local secs
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    printf '%s\t%s\t%s\t%s\n' "$kind" "$pipeline" "$seed" "$secs" >> "$OUT/timings_$kind.tsv"
    echo "    $kind $pipeline seed=$seed: ${secs}s"
}

# What was measured: date, machine, data version (written to $OUT/run_<step>.txt for summary.md).
describe() {
    echo "date: $(date -u +%FT%TZ); $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo |
        cut -d: -f2 | xargs)); load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "data: $NLU sha256 $(sha256sum "$NLU" | cut -c1-12)," \
        "$(grep -c '^- intent:' "$NLU") intents, $(grep -c '^    - ' "$NLU") examples"
}
describe | sed 's/^/==> /'

if step cv; then
    echo "==> step 2: 3-fold cross-validation (seeds: $CV_SEEDS)"
    : > "$OUT/timings_cv.tsv"
    describe > "$OUT/run_cv.txt"
    for p in $PIPELINES; do
        for s in $CV_SEEDS; do
            dir="$OUT/cv/$p/seed$s"
            rm -rf "$dir"
            timed cv "$p" "$s" "$OUT/logs/cv_${p}_seed$s.log" -- \
                rasa_seeded "$s" test nlu --nlu "$NLU" --config "$BENCH/$p.yml" \
                --cross-validation --folds 3 --successes --out "$dir"
        done
    done
fi

if step train; then
    echo "==> step 3a: training time (rasa train nlu, full data)"
    : > "$OUT/timings_train.tsv"
    describe > "$OUT/run_train.txt"
    for p in $PIPELINES; do
        rm -f "$MODELS/$p.tar.gz"
        timed train "$p" - "$OUT/logs/train_$p.log" -- \
            "$PY" -m rasa train nlu --config "$BENCH/$p.yml" --nlu "$NLU" \
            --out "$MODELS" --fixed-model-name "$p"
    done
fi

if step latency; then
    # Interleaved rounds (each model once per round) so that a burst of load from another
    # process on this 2-core machine does not land on one pipeline only; summary takes medians.
    echo "==> step 3b: per-message latency ($LATENCY_ROUNDS interleaved rounds)"
    describe > "$OUT/run_latency.txt"
    rm -f "$OUT"/latency/*.json
    for r in $(seq 1 "$LATENCY_ROUNDS"); do
        for p in $PIPELINES; do
            "$PY" "$BENCH/latency.py" "$MODELS/$p.tar.gz" \
                --json-out "$OUT/latency/$p.round$r.json" \
                2> "$OUT/logs/latency_${p}_round$r.log" | sed "s/^/    round $r: /"
        done
    done
fi

if step threshold; then
    echo "==> step 4: control-intent threshold (pooled over seeds)"
    for p in $PIPELINES; do
        "$PY" "$BENCH/threshold.py" "$OUT/cv/$p"/seed* --json-out "$OUT/threshold/$p.json" \
            > "$OUT/threshold/$p.md"
    done
fi

"$PY" "$BENCH/summarize.py" "$OUT" > "$OUT/summary.md"
for f in "$OUT"/threshold/*.md; do
    { echo; echo "## Threshold: $(basename "$f" .md)"; echo; cat "$f"; } >> "$OUT/summary.md"
done
echo "==> done: $OUT/summary.md"
cat "$OUT/summary.md"
