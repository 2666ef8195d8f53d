#!/usr/bin/env bash
# Ablation: only the designer is trained; executor frozen.
# Usage: recipes/run_ablation_designer_only.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" ablation_designer_only "$@"
