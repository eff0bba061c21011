#!/usr/bin/env bash
# One multilingual model against one model per language (docs/nlu.md, "Languages"): 3-fold
# cross-validation per language, training time, model size, engine memory and per-message latency,
# and the swallowed-answers / missed-controls measurement on the labelled sets nlu/rasa/eval/.
#
#   bash benchmarks/nlu_pipelines/languages.sh      # from the repo root; ~15 min on 2 busy cores
#
# Environment (all optional):
#   OUT=/tmp/candor-nlu-lang        data/, cv/, logs/, latency/, timings_*.tsv
#   MODELS=/tmp/nlumodels-lang      trained models (<design>.tar.gz)
#   CONFIG=benchmarks/nlu_pipelines/logreg.yml   the pipeline (the current config.yml)
#   CV_SEEDS="0"                    one 3-fold cross-validation per seed (run.sh seeds numpy)
#   DESIGNS="multi en fr de es"     multi = all four data files in one model
#   STEPS="cv train latency swallowed summary"
#   RESULTS=benchmarks/results/nlu_languages.json   the summary (swallowed: nlu_swallowed.json)
set -euo pipefail

if [[ ! -f config.yml || ! -d nlu/rasa/data || ! -d benchmarks/nlu_pipelines ]]; then
    echo "languages.sh: run me from the repo root" >&2
    exit 2
fi

PY=.venv-rasa/bin/python
BENCH=benchmarks/nlu_pipelines
DATA=nlu/rasa/data
OUT=${OUT:-/tmp/candor-nlu-lang}
MODELS=${MODELS:-/tmp/nlumodels-lang}
CONFIG=${CONFIG:-$BENCH/logreg.yml}
CV_SEEDS=${CV_SEEDS:-"0"}
DESIGNS=${DESIGNS:-"multi en fr de es"}
STEPS=${STEPS:-"cv train latency swallowed summary"}
RESULTS=${RESULTS:-benchmarks/results/nlu_languages.json}

export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 PYTHONDONTWRITEBYTECODE=1
export RASA_MAX_CACHE_SIZE=0 RASA_CACHE_DIRECTORY="$OUT/cache"

mkdir -p "$OUT"/{cv,logs,latency} "$MODELS"
step() { [[ " $STEPS " == *" $1 "* ]]; }

# The training data of each design: multi = every file; a language = its own file only.
rm -rf "$OUT/data"
mkdir -p "$OUT"/data/{multi,en,fr,de,es}
cp "$DATA"/nlu*.yml "$OUT/data/multi/"
cp "$DATA/nlu.yml" "$OUT/data/en/nlu.yml"
for l in fr de es; do cp "$DATA/nlu_$l.yml" "$OUT/data/$l/nlu.yml"; done

rasa_seeded() {
    local seed=$1
    shift
    "$PY" -c 'import sys, numpy; numpy.random.seed(int(sys.argv.pop(1))); sys.argv[0] = "rasa"
from rasa.__main__ import main; main()' "$seed" "$@"
}

timed() {  # timed KIND DESIGN SEED LOG -- command...
    local kind=$1 design=$2 seed=$3 log=$4
    shift 5
    local start=$EPOCHREALTIME
    if ! "$@" > "$log" 2>&1; then
        echo "FAILED: $* (see $log)" >&2
        tail -n 20 "$log" >&2
        return 1
    fi
    local secs
    secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    printf '%s\t%s\t%s\t%s\n' "$kind" "$design" "$seed" "$secs" >> "$OUT/timings_$kind.tsv"
    echo "    $kind $design seed=$seed: ${secs}s"
}

echo "==> $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)" |
    tee "$OUT/run.txt"

if step cv; then
    echo "==> 3-fold cross-validation per design (seeds: $CV_SEEDS)"
    : > "$OUT/timings_cv.tsv"
    for d in $DESIGNS; do
        for s in $CV_SEEDS; do
            rm -rf "$OUT/cv/$d/seed$s"
            timed cv "$d" "$s" "$OUT/logs/cv_${d}_seed$s.log" -- \
                rasa_seeded "$s" test nlu --nlu "$OUT/data/$d" --config "$CONFIG" \
                --cross-validation --folds 3 --successes --out "$OUT/cv/$d/seed$s"
        done
    done
fi

if step train; then
    echo "==> training time (rasa train nlu, full data of each design)"
    : > "$OUT/timings_train.tsv"
    for d in $DESIGNS; do
        rm -f "$MODELS/$d.tar.gz"
        timed train "$d" - "$OUT/logs/train_$d.log" -- \
            "$PY" -m rasa train nlu --config "$CONFIG" --nlu "$OUT/data/$d" \
            --out "$MODELS" --fixed-model-name "$d"
    done
fi

if step latency; then
    echo "==> latency and engine memory (VmRSS after loading the model)"
    rm -f "$OUT"/latency/*.json
    for d in $DESIGNS; do
        lang=$d
        [[ $d == multi ]] && lang=all
        "$PY" "$BENCH/latency.py" "$MODELS/$d.tar.gz" --lang "$lang" \
            --json-out "$OUT/latency/$d.json" 2> "$OUT/logs/latency_$d.log" | sed 's/^/    /'
    done
fi

if step swallowed; then
    echo "==> swallowed answers and missed controls (nlu/rasa/eval/, threshold 0.7)"
    for d in $DESIGNS; do
        langs=$d
        [[ $d == multi ]] && langs="en fr de es"
        # shellcheck disable=SC2086
        "$PY" "$BENCH/swallowed.py" "$MODELS/$d.tar.gz" --langs $langs \
            --json-out "$OUT/swallowed_$d.json" 2> "$OUT/logs/swallowed_$d.log" | sed 's/^/    /'
    done
fi

if step summary; then
    "$PY" "$BENCH/languages.py" "$OUT" --json-out "$RESULTS" | tee "$OUT/summary.md"
fi
