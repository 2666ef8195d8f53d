"""CPU end-to-end demo: a real MetaAgent-X training run through verl on a tiny model.

``python -m verl_metaagent.demo [--steps 4] [--out outputs/demo]``

1. builds a tiny random Qwen3-architecture model + tokenizer locally (no hub);
2. writes a small arithmetic dataset in verl's parquet schema (``math/demo_arith``);
3. runs ``python -m verl_metaagent.main`` on the ``cpu`` platform / rollout replica: the
   policy designs (M=2) and executes (N=2) every problem, rewards come from ``reward_fns``,
   the hierarchical advantage and alternating phases (K=2, executor first) drive verl's actor
   update, metrics go to a JSONL file tracker and a checkpoint is saved;
4. prints a per-step summary (reward by role, phase, design validity) from the metrics file.

With random weights the designer rarely writes a valid script, so early steps train mostly
designer rows; the demo shows the whole loop running (rollout -> advantage -> update ->
checkpoint) on 2 CPU cores. Extra Hydra overrides can be appended after ``--``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path


def write_arith_dataset(path: Path, n: int, seed: int) -> None:
    """``n`` two-number addition problems as verl parquet rows (ground truth = the sum)."""
    import pandas as pd

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        question = f"What is {a} + {b}?"
        rows.append(
            {
                "data_source": "math/demo_arith",
                "prompt": [{"role": "user", "content": question}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": str(a + b)},
                "extra_info": {"index": i, "question": question, "task_type": "math", "split": "train"},
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)


def demo_overrides(model_dir: Path, train: Path, val: Path, out: Path, steps: int) -> list[str]:
    """Hydra overrides of the demo run (CPU settings from docs/cpu.md + a small tree)."""
    from verl_metaagent.cpu import cpu_engine_overrides

    return cpu_engine_overrides(str(model_dir)) + [
        f"data.train_files={train}",
        f"data.val_files={val}",
        "data.train_batch_size=2",
        "data.max_prompt_length=512",
        "data.max_response_length=48",
        "data.dataloader_num_workers=0",
        "data.seed=0",
        "actor_rollout_ref.actor.ppo_mini_batch_size=2",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=2",
        "actor_rollout_ref.actor.optim.lr=1e-4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.calculate_log_probs=True",
        "actor_rollout_ref.rollout.agent.num_workers=1",
        "reward.num_workers=1",
        "metaagent.rollout.num_designs=2",
        "metaagent.rollout.num_executions=2",
        "metaagent.rollout.prompt_variant=short",
        "metaagent.rollout.budget.max_agent_calls=4",
        "metaagent.rollout.budget.wall_seconds=60",
        "metaagent.phase.phase_length=2",
        "metaagent.phase.first_role=executor",
        "trainer.logger=[console,file]",
        "trainer.val_before_train=False",
        "trainer.test_freq=-1",
        f"trainer.save_freq={max(1, steps // 2)}",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=100",
        "trainer.project_name=metaagent_demo",
        "trainer.experiment_name=cpu_demo",
        f"trainer.default_local_dir={out / 'checkpoints'}",
    ]


def summarize(metrics_path: Path) -> list[dict]:
    """Per-step summary rows from verl's JSONL file tracker."""
    rows = []
    if not metrics_path.exists():
        return rows
    for line in metrics_path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        data = record.get("data", record)
        step = record.get("step", data.get("training/global_step"))
        rows.append(
            {
                "step": step,
                "designer_reward": data.get("metaagent/rollout/designer_reward_mean"),
                "executor_reward": data.get("metaagent/rollout/executor_reward_mean"),
                "design_valid_rate": data.get("metaagent/rollout/design_valid_rate"),
                "trains_executor": data.get("metaagent/phase/trains_executor"),
                "trains_designer": data.get("metaagent/phase/trains_designer"),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="training steps (phases switch every 2)")
    parser.add_argument("--out", default="outputs/demo", help="output dir (model, data, metrics, checkpoints)")
    parser.add_argument("extra", nargs="*", help="extra Hydra overrides (after --)")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    from verl_metaagent.testing.tiny_model import build_tiny_model

    print(f"[demo] building the tiny model in {out / 'model'}", flush=True)
    model_dir = Path(build_tiny_model(out / "model"))
    train, val = out / "data" / "train.parquet", out / "data" / "val.parquet"
    write_arith_dataset(train, 32, seed=0)
    write_arith_dataset(val, 4, seed=1)
    metrics = out / "metrics.jsonl"
    if metrics.exists():
        metrics.unlink()
    from verl_metaagent.cpu import cpu_env

    env = cpu_env(VERL_FILE_LOGGER_PATH=str(metrics))
    cmd = [sys.executable, "-m", "verl_metaagent.main", *demo_overrides(model_dir, train, val, out, args.steps), *args.extra]
    print("[demo] running: " + " ".join(cmd[:3]) + f" ... ({len(cmd) - 3} overrides)", flush=True)
    rc = subprocess.call(cmd, env=env)
    summary = summarize(metrics)
    print("[demo] per-step summary (from the JSONL tracker):")
    for row in summary:
        print("   " + json.dumps(row))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if rc != 0:
        print(f"[demo] the training run failed with exit code {rc}", file=sys.stderr)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
