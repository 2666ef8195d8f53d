#!/usr/bin/env bash
# Cold-start SFT with verl's SFT trainer:  recipes/run_sft_cold_start.sh <qwen3_4b|qwen3_8b> [hydra overrides ...]
#
#   python -m verl_metaagent.distill run --problems data/train_mixed.parquet --out data/cold_start   # distil first
#   METAAGENT_SFT_DIR=data/cold_start recipes/run_sft_cold_start.sh qwen3_4b
#   DRY_RUN=1 recipes/run_sft_cold_start.sh qwen3_8b          # compose + validate, no training
#
# Environment knobs (all optional; Hydra overrides on the command line win):
#   METAAGENT_SFT_DIR   folder with designer.parquet / executor.parquet (default ./data/cold_start)
#   MODEL_PATH          base model (default: the recipe's Qwen3 model)
#   GPUS_PER_NODE       processes per node (default 8 = the recipe's trainer.n_gpus_per_node)
#   NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT   multi-node torchrun rendezvous (default: one node)
#   DRY_RUN=1           python -m verl_metaagent.distill check-recipe instead of training
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 <qwen3_4b|qwen3_8b> [hydra overrides...]" >&2
  exit 2
fi
MODEL=$1; shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
RECIPE=sft_cold_start_$MODEL
if [[ ! -f "$HERE/$RECIPE.yaml" ]]; then
  echo "unknown model '$MODEL' (no $HERE/$RECIPE.yaml); use qwen3_4b or qwen3_8b" >&2
  exit 2
fi
PYTHON=${PYTHON:-python}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
NNODES=${NNODES:-1}
EXTRA=("trainer.n_gpus_per_node=$GPUS_PER_NODE" "trainer.nnodes=$NNODES")
export METAAGENT_SFT_DIR=${METAAGENT_SFT_DIR:-$ROOT/data/cold_start}

if [[ "${DRY_RUN:-0}" == "1" ]]; then
  exec "$PYTHON" -m verl_metaagent.distill check-recipe --recipe "$RECIPE" "${EXTRA[@]}" "$@"
fi
# --config-dir adds the repository root to Hydra's search path; +recipes=<name> layers the recipe
# (recipes/<name>.yaml, package _global_) over verl's sft_trainer_engine config.
exec "$PYTHON" -m torch.distributed.run --nnodes="$NNODES" --nproc_per_node="$GPUS_PER_NODE" \
  --node_rank="${NODE_RANK:-0}" --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${MASTER_PORT:-29500}" \
  -m verl.trainer.sft_trainer --config-dir "$ROOT" "+recipes=$RECIPE" "${EXTRA[@]}" "$@"
