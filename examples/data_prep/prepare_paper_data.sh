#!/usr/bin/env bash
# Build every parquet file the recipes read, from the Hugging Face sources (cache or network).
#
#   examples/data_prep/prepare_paper_data.sh [OUT_DIR]        (default ./data)
#
# Writes OUT_DIR/{polaris_train,apps_train,codecontests_train}.parquet (sources of the mix),
# OUT_DIR/train_mixed.parquet + OUT_DIR/val_heldout.parquet (70% code, seeded, validation held out
# from the training distribution), and the test benchmarks OUT_DIR/test/{aime24,aime25,
# olympiadbench,apps_test,livecodebench_v6,codecontests_test}.parquet. Training rows whose question
# appears in a test benchmark are dropped (counted in the report lines).
# Knobs: PYTHON, SEED (0), CODE_RATIO (0.7), VAL_SIZE (256), APPS_TEST_LIMIT / CC_TEST_LIMIT (0 = all).
set -euo pipefail
OUT=${1:-data}
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SEED=${SEED:-0}
mkdir -p "$OUT/test"

# test benchmarks first (training data is decontaminated against them)
for ds in aime24 aime25 olympiadbench; do
  "$PY" "$HERE/prepare_math.py" --dataset $ds --output "$OUT/test/$ds.parquet"
done
"$PY" "$HERE/prepare_code.py" --dataset apps --split test --limit "${APPS_TEST_LIMIT:-0}" --seed "$SEED" --output "$OUT/test/apps_test.parquet"
"$PY" "$HERE/prepare_code.py" --dataset codecontests --split test --limit "${CC_TEST_LIMIT:-0}" --seed "$SEED" --output "$OUT/test/codecontests_test.parquet"
"$PY" "$HERE/prepare_code.py" --dataset livecodebench_v6 --output "$OUT/test/livecodebench_v6.parquet"
TESTS=("$OUT"/test/*.parquet)

# training sources
"$PY" "$HERE/prepare_math.py" --dataset polaris --exclude "${TESTS[@]}" --output "$OUT/polaris_train.parquet"
"$PY" "$HERE/prepare_code.py" --dataset apps --split train --exclude "${TESTS[@]}" --output "$OUT/apps_train.parquet"
"$PY" "$HERE/prepare_code.py" --dataset codecontests --split train --exclude "${TESTS[@]}" --output "$OUT/codecontests_train.parquet"

# the mix + held-out validation
"$PY" "$HERE/mix.py" --math "$OUT/polaris_train.parquet" --code "$OUT/apps_train.parquet" "$OUT/codecontests_train.parquet" \
  --code-ratio "${CODE_RATIO:-0.7}" --seed "$SEED" --val-size "${VAL_SIZE:-256}" \
  --output "$OUT/train_mixed.parquet" --val-output "$OUT/val_heldout.parquet"
echo "done: export METAAGENT_DATA_DIR=$(cd "$OUT" && pwd)"
