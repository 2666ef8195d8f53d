#!/usr/bin/env bash
# Ablation: only the executor is trained; designer frozen.
# Usage: recipes/run_ablation_executor_only.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" ablation_executor_only "$@"
