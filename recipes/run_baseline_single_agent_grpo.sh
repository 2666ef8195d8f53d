#!/usr/bin/env bash
# Baseline: plain single-agent GRPO (no designer, no workflow) on the same data, lengths and
# Usage: recipes/run_baseline_single_agent_grpo.sh [hydra overrides ...]   (env knobs: see run_recipe.sh)
exec "$(dirname "${BASH_SOURCE[0]}")/run_recipe.sh" baseline_single_agent_grpo "$@"
