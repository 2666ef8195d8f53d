#!/usr/bin/env bash
# Ablation: separate designer and executor parameters (two policies; see recipes/ablation_separate_params.yaml).
# Usage: recipes/run_ablation_separate_params.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" ablation_separate_params "$@"
