#!/usr/bin/env bash
# Main run, Qwen3-8B (paper: AIME24 40.00, AIME25 33.33, OlympiadBench 61.00, APPS 38.00,
# Usage: recipes/run_qwen3_8b_main.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" qwen3_8b_main "$@"
