#!/usr/bin/env bash
# The paper's whole pipeline, one stage feeding the next:
#   1. distil    teacher designs + executes M x N trees -> cold-start SFT data (short designer prompts)
#   2. sft       verl's SFT trainer on that data                       -> <WORK>/sft/global_step_N/huggingface
#   3. rl        MetaAgent-X RL from the SFT model, prompt_variant=short -> <WORK>/rl/global_step_N/actor
#   4. export    verl's model merger: the last RL checkpoint -> Hugging Face weights in <WORK>/rl_hf
#   5. eval      the six test benchmarks on the exported model (validation-only pass, greedy)
#
#   recipes/run_paper_pipeline.sh qwen3_4b|qwen3_8b [hydra overrides for the RL stage...]
#   DRY_RUN=1 recipes/run_paper_pipeline.sh qwen3_8b    # every stage composes + validates, nothing trains
#
# One designer prompt variant throughout: `short` (the distilled SFT data stores short designer
# prompts). Each stage writes metaagent_run.json next to its weights, and a later stage whose
# metaagent.rollout.prompt_variant disagrees is refused at start (verl_metaagent/trainer/provenance.py).
#
# Environment: WORK (./outputs/pipeline_<model>), METAAGENT_DATA_DIR (./data), TEACHER_BASE_URL +
# TEACHER_MODEL (+ TEACHER_API_KEY) for the distillation, STAGES (default "distil sft rl export eval";
# e.g. STAGES="rl export eval" to resume after SFT), plus run_recipe.sh's knobs (NNODES, GPUS_PER_NODE,
# ROLLOUT_ENGINE).
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: $0 <qwen3_4b|qwen3_8b> [hydra overrides for the RL stage...]" >&2
  exit 2
fi
MODEL=$1; shift
case "$MODEL" in qwen3_4b|qwen3_8b) ;; *) echo "unknown model '$MODEL'; use qwen3_4b or qwen3_8b" >&2; exit 2 ;; esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PYTHON=${PYTHON:-python}
WORK=${WORK:-$ROOT/outputs/pipeline_$MODEL}
export METAAGENT_DATA_DIR=${METAAGENT_DATA_DIR:-$ROOT/data}
STAGES=${STAGES:-distil sft rl export eval}
DRY=${DRY_RUN:-0}
VARIANT=short
run() { echo "[pipeline] $*" >&2; "$@"; }
has_stage() { [[ " $STAGES " == *" $1 "* ]]; }
latest_step() {  # highest global_step_N under $1 (dry run: a placeholder)
  if [[ "$DRY" == "1" ]]; then echo "global_step_N"; return; fi
  local d; d=$(ls -d "$1"/global_step_* 2>/dev/null | sed 's/.*global_step_//' | sort -n | tail -n 1)
  [[ -n "$d" ]] || { echo "[pipeline] no checkpoint in $1" >&2; exit 1; }
  echo "global_step_$d"
}
write_provenance() {  # dir stage
  [[ "$DRY" == "1" ]] && { echo "[pipeline] would write $1/metaagent_run.json (prompt_variant=$VARIANT, stage=$2)" >&2; return; }
  "$PYTHON" -c 'import sys; from verl_metaagent.trainer.provenance import run_info, write_run_info; write_run_info(sys.argv[1], run_info(sys.argv[2], sys.argv[3]))' "$1" "$VARIANT" "$2"
}

mkdir -p "$WORK"
SFT_DATA=$WORK/cold_start
SFT_DIR=$WORK/sft
RL_DIR=$WORK/rl
RL_HF=$WORK/rl_hf

if has_stage distil; then
  if [[ "$DRY" == "1" ]]; then
    echo "[pipeline] distil (dry run): $PYTHON -m verl_metaagent.distill run --problems $METAAGENT_DATA_DIR/train_mixed.parquet --out $SFT_DATA --base-url \${TEACHER_BASE_URL} --model \${TEACHER_MODEL}" >&2
  else
    : "${TEACHER_BASE_URL:?set TEACHER_BASE_URL (an OpenAI-compatible endpoint of the teacher)}"
    : "${TEACHER_MODEL:?set TEACHER_MODEL}"
    run "$PYTHON" -m verl_metaagent.distill run --problems "$METAAGENT_DATA_DIR/train_mixed.parquet" --out "$SFT_DATA" \
      --base-url "$TEACHER_BASE_URL" --model "$TEACHER_MODEL"
  fi
fi

if has_stage sft; then
  run env "METAAGENT_SFT_DIR=$SFT_DATA" "DRY_RUN=$DRY" bash "$HERE/run_sft_cold_start.sh" "$MODEL" "trainer.default_local_dir=$SFT_DIR"
  SFT_HF=$SFT_DIR/$(latest_step "$SFT_DIR")/huggingface
  write_provenance "$SFT_HF" sft
fi
SFT_HF=${SFT_HF:-$SFT_DIR/$(latest_step "$SFT_DIR")/huggingface}

if has_stage rl; then
  # the SFT model does not exist yet in a dry run: validate against the recipe's base model instead
  ENVV=("DRY_RUN=$DRY")
  [[ "$DRY" == "1" ]] || ENVV+=("MODEL_PATH=$SFT_HF")
  run env "${ENVV[@]}" bash "$HERE/run_recipe.sh" "${MODEL}_main" \
    "metaagent.rollout.prompt_variant=$VARIANT" "trainer.default_local_dir=$RL_DIR" "$@"
fi

if has_stage export; then
  RL_ACTOR=$RL_DIR/$(latest_step "$RL_DIR")/actor
  if [[ "$DRY" == "1" ]]; then
    echo "[pipeline] export (dry run): $PYTHON -m verl.model_merger merge --backend fsdp --local_dir $RL_ACTOR --target_dir $RL_HF" >&2
  else
    run "$PYTHON" -m verl.model_merger merge --backend fsdp --local_dir "$RL_ACTOR" --target_dir "$RL_HF"
  fi
  write_provenance "$RL_HF" rl
fi

if has_stage eval; then
  ENVV=("DRY_RUN=$DRY")
  [[ "$DRY" == "1" ]] || ENVV+=("MODEL_PATH=$RL_HF")
  run env "${ENVV[@]}" bash "$HERE/run_eval_test_benchmarks.sh" "metaagent.rollout.prompt_variant=$VARIANT"
fi
echo "[pipeline] done (stages: $STAGES; work dir $WORK)" >&2
