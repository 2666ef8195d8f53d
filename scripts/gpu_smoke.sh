#!/usr/bin/env bash
# The first thing to run on one GPU: a demo-sized MetaAgent-X run (Qwen3-0.6B, vLLM, 2 steps).
#
#   bash scripts/gpu_smoke.sh                       # checks the machine, writes data, trains 2 steps
#   DRY_RUN=1 bash scripts/gpu_smoke.sh             # composed config + the commands, no GPU needed
#   MODEL_PATH=/models/Qwen3-0.6B bash scripts/gpu_smoke.sh trainer.total_training_steps=3
#
# Environment knobs (Hydra overrides on the command line win):
#   MODEL_PATH      model folder or hub id (default Qwen/Qwen3-0.6B)
#   ROLLOUT_ENGINE  vllm (default) | sglang
#   OUT             output folder: data, logs, metrics (default outputs/gpu_smoke)
#   PYTHON          interpreter (default: python)
#   DRY_RUN=1       print the composed config (python -m verl_metaagent.dry_run) and the commands only
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python}
MODEL_PATH=${MODEL_PATH:-Qwen/Qwen3-0.6B}
ENGINE=${ROLLOUT_ENGINE:-vllm}
OUT=${OUT:-outputs/gpu_smoke}
DRY_RUN=${DRY_RUN:-0}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
DATA="$OUT/data/train.parquet"

say() { echo "[gpu_smoke] $*"; }

# 1. the machine: a GPU, the engine, flash-attn (the GPU extra's second step)
if [[ "$DRY_RUN" != "1" ]]; then
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    say "no GPU visible (nvidia-smi -L failed). On a CPU machine run the CPU demo instead: python -m verl_metaagent.demo"
    exit 1
  fi
  if ! "$PYTHON" -c "import $ENGINE" >/dev/null 2>&1; then
    case "$ENGINE" in
      sglang) say "sglang is not installed: pip install -e \".[sglang]\" && pip install flash-attn --no-build-isolation" ;;
      *) say "vllm is not installed: pip install -e \".[gpu]\" && pip install flash-attn --no-build-isolation" ;;
    esac
    exit 1
  fi
  if ! "$PYTHON" -c "import flash_attn" >/dev/null 2>&1; then
    say "flash-attn is not installed: pip install flash-attn --no-build-isolation (needs torch first; takes a while to build)"
    exit 1
  fi
fi

# 2. the demo's arithmetic problems as verl parquet (CPU, a second)
"$PYTHON" - "$DATA" <<'PY'
import sys
from pathlib import Path

from verl_metaagent.demo.task import train_problems, write_dataset

write_dataset(Path(sys.argv[1]), train_problems(16, seed=0))
PY
say "data: $DATA (16 demo problems)"

# 3. a demo-sized run: 2 problems x 2 designs x 2 executions per step, 2 steps, one GPU
OVERRIDES=(
  "actor_rollout_ref.model.path=$MODEL_PATH"
  "actor_rollout_ref.rollout.name=$ENGINE"
  "actor_rollout_ref.rollout.tensor_model_parallel_size=1"
  "actor_rollout_ref.rollout.gpu_memory_utilization=0.4"
  "actor_rollout_ref.rollout.calculate_log_probs=True"
  "actor_rollout_ref.rollout.agent.num_workers=1"
  "actor_rollout_ref.actor.ppo_mini_batch_size=2"
  "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2"
  "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=2"
  "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=2"
  "actor_rollout_ref.actor.optim.lr=1e-6"
  "data.train_files=$DATA"
  "data.val_files=$DATA"
  "data.train_batch_size=2"
  "data.max_prompt_length=4096"
  "data.max_response_length=1024"
  "+data.apply_chat_template_kwargs.enable_thinking=False"
  "metaagent.rollout.num_designs=2"
  "metaagent.rollout.num_executions=2"
  "metaagent.rollout.budget.max_agent_calls=6"
  "metaagent.rollout.budget.max_total_tokens=65536"
  "metaagent.actor_update.rows_per_mini_batch=16"
  "metaagent.phase.phase_length=1"
  "trainer.n_gpus_per_node=1"
  "trainer.nnodes=1"
  "trainer.total_training_steps=2"
  "trainer.total_epochs=100"
  "trainer.val_before_train=False"
  "trainer.test_freq=-1"
  "trainer.save_freq=-1"
  "trainer.logger=[console,file]"
  "trainer.project_name=metaagent_gpu_smoke"
  "trainer.experiment_name=qwen3_0.6b_${ENGINE}"
  "trainer.default_local_dir=$OUT/checkpoints"
)
CMD=("$PYTHON" -m verl_metaagent.main "${OVERRIDES[@]}" "$@")

check_list() {
  cat <<EOF
[gpu_smoke] what to check in $OUT/train.log:
  1. it reaches 'step:2' and exits 0 (two steps: executor phase, then designer phase, metaagent.phase.phase_length=1)
  2. metaagent/ design metrics: valid designs > 0 (the model writes runnable designs) and executions 'finished'
  3. rollout: every agent call was answered by $ENGINE (no 'backend_error' executions), and the
     'truncated' count of calls cut at max_tokens is small
  4. actor: finite pg_loss and grad_norm on both steps; each step updates one role
  5. time per step (timing_s/step) -- most of it is rollout; compare with the demo numbers in docs/demo.md
EOF
}

if [[ "$DRY_RUN" == "1" ]]; then
  say "dry run: the composed config (python -m verl_metaagent.dry_run)"
  "$PYTHON" -m verl_metaagent.dry_run --calls 4 "${OVERRIDES[@]}" "$@"
  say "the training command:"
  printf '  %q' "${CMD[@]}"; echo
  check_list
  exit 0
fi

say "training 2 steps (log: $OUT/train.log)"
set +e
VERL_FILE_LOGGER_PATH="$OUT/metrics.jsonl" "${CMD[@]}" 2>&1 | tee "$OUT/train.log"
STATUS=${PIPESTATUS[0]}
set -e
check_list
if [[ "$STATUS" -ne 0 ]]; then
  say "training failed with exit status $STATUS; the last error is at the end of $OUT/train.log"
fi
exit "$STATUS"
