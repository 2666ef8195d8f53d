#!/usr/bin/env bash
# Ablation: flat GRPO over the tree: designer and executor rows of a problem in one group (no hierarchy).
# Usage: recipes/run_ablation_flat_grpo.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" ablation_flat_grpo "$@"
