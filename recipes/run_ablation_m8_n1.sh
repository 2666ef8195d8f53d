#!/usr/bin/env bash
# Ablation: M=8 designs x N=1 execution per problem (more designs, no repeated executions).
# Usage: recipes/run_ablation_m8_n1.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" ablation_m8_n1 "$@"
