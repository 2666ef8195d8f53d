#!/usr/bin/env bash
# Evaluation of one checkpoint on the six test benchmarks (validation-only pass, greedy).
# Usage: MODEL_PATH=<checkpoint> recipes/run_eval_test_benchmarks.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" eval_test_benchmarks "$@"
