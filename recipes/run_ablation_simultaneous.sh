#!/usr/bin/env bash
# Ablation: both roles trained every step (no stagewise co-evolution).
# Usage: recipes/run_ablation_simultaneous.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" ablation_simultaneous "$@"
