#!/usr/bin/env bash
# Main run, Qwen3-4B (paper Table: 4B average 34.18). Hardware: 1 node x 8 GPUs (80 GB).
# Usage: recipes/run_qwen3_4b_main.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" qwen3_4b_main "$@"
