#!/usr/bin/env bash
# MetaAgent-X through verl's *stock* launcher on the CPU platform: `python -m verl.trainer.main_ppo`
# with the plugin flag and one trainer-mode setting. Nothing of ours wraps the launch.
#
#   bash examples/stock_main_ppo_cpu.sh OUT_DIR [extra hydra overrides...]
#
# Environment knobs: STEPS (4), K (phase length, 2), LOOP=tree|designer,
#   TRAINER_MODE (LOOP=tree: metaagent, or metaagent_colocate_async for async rollout),
#   WARMSTART_STEPS (300: the demo's warm start; tests use fewer)
#   LOOP=tree      the full method: trainer.v1.trainer_mode=metaagent (M x N tree, hierarchical
#                  advantage, alternating phases, per-role updates)
#   LOOP=designer  designer-only training on verl's stock GRPO trainer (sync mode): each of the
#                  rollout.n samples is one design, rewarded with the mean of its executions
# Writes verl's JSONL file logger to OUT_DIR/metrics.jsonl (metaagent/* metrics on every step),
# verl's console to OUT_DIR/train.log, checkpoints to OUT_DIR/checkpoints. The model is the CPU
# demo's warm-started tiny Qwen3 (built once, ~1 min, cached in OUT_DIR/model).
set -euo pipefail
OUT=${1:?usage: stock_main_ppo_cpu.sh OUT_DIR [hydra overrides...]}
shift
STEPS=${STEPS:-4}
K=${K:-2}
LOOP=${LOOP:-tree}
TRAINER_MODE=${TRAINER_MODE:-metaagent}
PY=${PYTHON:-python}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# 1. the demo's warm-started tiny model + data (math/demo_arith additions graded by reward_fns)
paths=$("$PY" -m verl_metaagent.demo --prepare-only --out "$OUT" --warmstart-steps "${WARMSTART_STEPS:-300}" | tail -n 1)
MODEL=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["model"])' "$paths")
TRAIN=$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["train"])' "$paths")

# 2. what any verl run on the cpu platform needs (docs/cpu.md): sdpa attention, fsdp2, the cpu replica
mapfile -t CPU_OVERRIDES < <("$PY" -c 'import sys; from verl_metaagent.cpu import cpu_engine_overrides; print("\n".join(cpu_engine_overrides(sys.argv[1])))' "$MODEL")

COMMON=(
  "data.train_files=$TRAIN" "data.val_files=$TRAIN"
  data.train_batch_size=4 data.max_prompt_length=128 data.max_response_length=80 data.dataloader_num_workers=0
  actor_rollout_ref.actor.ppo_mini_batch_size=4 actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=16
  actor_rollout_ref.actor.optim.lr=1e-3 actor_rollout_ref.actor.use_kl_loss=false
  actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=16 actor_rollout_ref.rollout.calculate_log_probs=true
  actor_rollout_ref.rollout.agent.num_workers=1 reward.num_workers=1
  metaagent.rollout.prompt_variant=short metaagent.rollout.executor_sampling.max_tokens=12
  metaagent.rollout.budget.max_agent_calls=6 metaagent.rollout.budget.wall_seconds=60
  trainer.logger=[console,file] trainer.val_before_train=false trainer.test_freq=-1
  "trainer.total_training_steps=$STEPS" trainer.total_epochs=100 trainer.save_freq=2
  trainer.project_name=metaagent_stock "trainer.default_local_dir=$OUT/checkpoints"
)
if [ "$LOOP" = tree ]; then
  MODE=(
    "trainer.v1.trainer_mode=$TRAINER_MODE"      # the whole method; algorithm.adv_estimator=metaagent is implied
    metaagent.rollout.num_designs=2 metaagent.rollout.num_executions=2
    "metaagent.phase.phase_length=$K" metaagent.phase.first_role=executor
    "trainer.experiment_name=tree_$TRAINER_MODE"
  )
else
  MODE=(
    actor_rollout_ref.rollout.agent.default_agent_loop=metaagent_designer
    actor_rollout_ref.rollout.n=4 algorithm.adv_estimator=grpo
    metaagent.rollout.num_executions=2
    trainer.experiment_name=designer_only
  )
fi

export VERL_USE_EXTERNAL_MODULES=verl_metaagent VERL_PLATFORM=cpu TOKENIZERS_PARALLELISM=false OMP_NUM_THREADS=1
export VERL_FILE_LOGGER_PATH="$OUT/metrics.jsonl" PYTHONWARNINGS=ignore
rm -f "$OUT/metrics.jsonl"
echo "[stock] python -m verl.trainer.main_ppo (LOOP=$LOOP, $STEPS steps); log: $OUT/train.log" >&2
"$PY" -m verl.trainer.main_ppo "${CPU_OVERRIDES[@]}" "${COMMON[@]}" "${MODE[@]}" "$@" >"$OUT/train.log" 2>&1 || {
  rc=$?; echo "[stock] the launch failed ($rc); last lines of $OUT/train.log:" >&2; tail -n 40 "$OUT/train.log" >&2; exit $rc; }
echo "[stock] done: $OUT/metrics.jsonl" >&2
