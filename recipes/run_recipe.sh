#!/usr/bin/env bash
# Launch a recipe:  recipes/run_recipe.sh <recipe> [hydra overrides ...]
#
#   recipes/run_recipe.sh qwen3_4b_main actor_rollout_ref.model.path=/models/Qwen3-4B
#   DRY_RUN=1 recipes/run_recipe.sh ablation_m8_n1          # print config + rollout volume, no training
#
# Environment knobs (all optional; Hydra overrides on the command line win):
#   METAAGENT_DATA_DIR  folder with train_mixed.parquet / val_heldout.parquet (default ./data)
#   MODEL_PATH          base model or cold-start SFT checkpoint (default: the recipe's Qwen3 model)
#   NNODES              nodes of the Ray cluster (start Ray on every node first; default: recipe)
#   GPUS_PER_NODE       GPUs per node (default: recipe, 8)
#   ROLLOUT_ENGINE      vllm (default) | sglang
#   DRY_RUN=1           python -m verl_metaagent.dry_run instead of training
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 <recipe> [hydra overrides...]; recipes: $(cd "$(dirname "$0")" && ls *.yaml | sed 's/\.yaml$//' | grep -v '^paper_' | tr '\n' ' ')" >&2
  exit 2
fi
RECIPE=$1; shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
if [[ ! -f "$HERE/$RECIPE.yaml" ]]; then
  echo "unknown recipe '$RECIPE' (no $HERE/$RECIPE.yaml)" >&2
  exit 2
fi
PYTHON=${PYTHON:-python}
EXTRA=()
[[ -n "${NNODES:-}" ]] && EXTRA+=("trainer.nnodes=$NNODES")
[[ -n "${GPUS_PER_NODE:-}" ]] && EXTRA+=("trainer.n_gpus_per_node=$GPUS_PER_NODE")
[[ -n "${ROLLOUT_ENGINE:-}" ]] && EXTRA+=("actor_rollout_ref.rollout.name=$ROLLOUT_ENGINE")
export METAAGENT_DATA_DIR=${METAAGENT_DATA_DIR:-$ROOT/data}

if [[ "${DRY_RUN:-0}" == "1" ]]; then
  exec "$PYTHON" -m verl_metaagent.dry_run --recipe "$RECIPE" "${EXTRA[@]}" "$@"
fi
ENTRY=verl_metaagent.main
if grep -q "entry: verl.trainer.main_ppo" "$HERE/$RECIPE.yaml"; then
  ENTRY=verl.trainer.main_ppo
fi
# --config-dir adds the repository root to Hydra's search path; +recipes=<name> layers the recipe
# (recipes/<name>.yaml, package _global_) over the entry point's own config.
exec "$PYTHON" -m "$ENTRY" --config-dir "$ROOT" "+recipes=$RECIPE" "${EXTRA[@]}" "$@"
