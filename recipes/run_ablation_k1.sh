#!/usr/bin/env bash
# Ablation: stagewise switching every step (K=1; the paper reports collapse).
# Usage: recipes/run_ablation_k1.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" ablation_k1 "$@"
