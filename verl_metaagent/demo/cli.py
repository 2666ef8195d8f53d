"""``python -m verl_metaagent.demo``: a small, real MetaAgent-X training run through verl on CPU.

Steps (details and measured numbers: docs/demo.md):

1. warm start (cached in ``<out>/model``): a tiny Qwen3-architecture model with its own tokenizer
   is trained for about a minute in plain torch on the demo task's format, so the designer writes
   one of two valid designs (single agent / 5-agent vote, about 50/50) and the executor answers
   single-digit additions correctly only part of the time;
2. data: the RL problems as verl parquet (``math/demo_arith``);
3. RL: ``python -m verl_metaagent.main`` on the ``cpu`` platform -- verl's trainer with the
   MetaAgent-X trainer subclass, the M x N design-execute rollout, the hierarchical advantage,
   alternating phases (K=2, executor first) and FSDP2 actor updates of the tiny model; verl's
   console output goes to ``<out>/train.log``, one progress line per step is printed here;
4. report: ``<out>/metrics.jsonl`` (verl's JSONL tracker), ``<out>/summary.json`` (per-step rows,
   first-vs-last reward per role), ``<out>/reward.png``, checkpoints in ``<out>/checkpoints``.

``--resume`` continues from the latest checkpoint in ``<out>/checkpoints`` up to ``--steps``
(verl's ``trainer.resume_mode=auto``); the phase at the resumed step is the scheduler's
(``verl_metaagent.phases.phase_at``). Extra Hydra overrides go after ``--``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from verl_metaagent.demo import report
from verl_metaagent.demo.tasks import get_task


def latest_checkpoint_step(ckpt_dir: Path) -> int:
    """Highest ``global_step_<n>`` in ``ckpt_dir`` (0 if none)."""
    steps = [int(m.group(1)) for p in Path(ckpt_dir).glob("global_step_*")
             if (m := re.fullmatch(r"global_step_(\d+)", p.name))]
    return max(steps, default=0)


def demo_overrides(
    model_dir: Path,
    train: Path,
    out: Path,
    *,
    steps: int,
    batch_size: int,
    rows_per_mini_batch: int,
    num_designs: int,
    num_executions: int,
    phase_length: int,
    lr: float,
    ppo_epochs: int,
    save_freq: int,
    seed: int,
    resume: bool,
    max_agent_calls: int = 6,
) -> list[str]:
    """Hydra overrides of the demo's RL run (CPU settings from ``verl_metaagent.cpu`` + a small tree)."""
    from verl_metaagent.cpu import cpu_engine_overrides

    micro = 32
    return cpu_engine_overrides(str(model_dir)) + [
        f"data.train_files={train}",
        f"data.val_files={train}",
        f"data.train_batch_size={batch_size}",
        "data.max_prompt_length=128",
        "data.max_response_length=80",
        "data.dataloader_num_workers=0",
        f"data.seed={seed}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={batch_size}",  # unused by the metaagent trainer mode
        f"metaagent.actor_update.rows_per_mini_batch={rows_per_mini_batch}",
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={micro}",
        f"actor_rollout_ref.actor.optim.lr={lr}",
        f"actor_rollout_ref.actor.ppo_epochs={ppo_epochs}",
        "actor_rollout_ref.actor.optim.lr_warmup_steps=0",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={micro}",
        f"actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu={micro}",
        "actor_rollout_ref.rollout.calculate_log_probs=True",
        "actor_rollout_ref.rollout.agent.num_workers=1",
        "reward.num_workers=1",
        f"metaagent.rollout.num_designs={num_designs}",
        f"metaagent.rollout.num_executions={num_executions}",
        "metaagent.rollout.prompt_variant=short",
        "metaagent.rollout.executor_sampling.max_tokens=12",
        f"metaagent.rollout.budget.max_agent_calls={max_agent_calls}",
        "metaagent.rollout.budget.wall_seconds=60",
        f"metaagent.rollout.seed={seed}",
        f"metaagent.phase.phase_length={phase_length}",
        "metaagent.phase.first_role=executor",
        "trainer.logger=[console,file]",
        "trainer.val_before_train=False",
        "trainer.test_freq=-1",
        f"trainer.save_freq={save_freq}",
        f"trainer.resume_mode={'auto' if resume else 'disable'}",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=1000",
        "trainer.project_name=metaagent_demo",
        "trainer.experiment_name=cpu_demo",
        f"trainer.default_local_dir={out / 'checkpoints'}",
    ]


def _follow(proc: subprocess.Popen, launch_metrics: Path, metrics: Path, total_steps: int) -> None:
    """Print a progress line per new training step of the running launch; copy its records to ``metrics``."""
    offset = 0
    buffer = b""

    def drain() -> None:
        nonlocal offset, buffer
        if not launch_metrics.exists():
            return
        with open(launch_metrics, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        offset += len(chunk)
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        with open(metrics, "ab") as out:
            for line in lines:
                if not line.strip():
                    continue
                out.write(line + b"\n")
                try:
                    row = report.step_row(json.loads(line))
                except ValueError:
                    continue
                if row is not None:
                    print(report.progress_line(row, total_steps), flush=True)

    while proc.poll() is None:
        drain()
        time.sleep(1.0)
    drain()


def policy_change(
    model_dir: Path, ckpt_dir: Path, problems: list, task_name: str = "arith", designer_subdir: Optional[str] = None
) -> Optional[dict]:
    """Exact designer / executor probabilities of the warm start and of the latest checkpoint.

    ``designer_subdir``: the designer actor's checkpoint folder when the run used separate parameters.
    """
    from verl_metaagent.demo.warmstart import evaluate_policy

    step = latest_checkpoint_step(ckpt_dir)
    if step == 0:
        return None
    try:
        return {
            "final_step": step,
            "warm_start": evaluate_policy(model_dir, problems, task_name=task_name),
            "final": evaluate_policy(
                model_dir, problems, ckpt_dir / f"global_step_{step}", task_name=task_name,
                designer_subdir=designer_subdir
            ),
        }
    except Exception as exc:  # the report must not hide the run's own result
        print(f"[demo] could not evaluate the checkpoint: {exc!r}", file=sys.stderr)
        return None


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """Command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(
        prog="python -m verl_metaagent.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default="outputs/demo", help="output dir (model, data, metrics, plot, checkpoints)")
    p.add_argument(
        "--task",
        default="arith",
        choices=("arith", "family"),
        help="arith: single-digit additions, two designs (the README demo); family: three problem kinds where "
        "different designs win (the ablation task, docs/ablations.md)",
    )
    p.add_argument("--steps", type=int, default=24, help="RL steps (with --resume: the step to continue to)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in <out>/checkpoints")
    p.add_argument("--phase-length", type=int, default=2, help="K: steps per phase (roles alternate, executor first)")
    p.add_argument("--batch-size", type=int, default=8, help="problems per step")
    p.add_argument(
        "--rows-per-mini-batch",
        type=int,
        default=128,
        help="rows per optimizer step (metaagent.actor_update.rows_per_mini_batch; the release uses 16 at paper scale, "
        "the tiny demo model needs fewer, larger updates)",
    )
    p.add_argument("--designs", type=int, default=4, help="M: designs per problem")
    p.add_argument("--executions", type=int, default=2, help="N: executions per design")
    p.add_argument("--lr", type=float, default=1e-3, help="actor learning rate")
    p.add_argument("--ppo-epochs", type=int, default=2, help="passes over each step's rows in the actor update")
    p.add_argument(
        "--problems", type=int, default=16,
        help="RL training problems (arith: of the 81 a+b; family: split evenly over the kinds)"
    )
    p.add_argument("--save-freq", type=int, default=8, help="checkpoint every this many steps (and at the last)")
    p.add_argument("--seed", type=int, default=0, help="seed of data order, rollout sampling and warm start")
    p.add_argument("--warmstart-steps", type=int, default=300, help="supervised warm-start steps (cached)")
    p.add_argument("--warmstart-batch", type=int, default=64, help="supervised warm-start batch size")
    p.add_argument(
        "--prepare-only",
        action="store_true",
        help="only build the warm-started model and the data (<out>/model, <out>/data/train.parquet), "
        "print them as JSON",
    )
    p.add_argument("extra", nargs="*", help="extra Hydra overrides for verl_metaagent.main (after --)")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    """Run the demo; returns the training process's exit code."""
    args = parse_args(argv)
    started = time.monotonic()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out / "checkpoints"
    metrics = out / "metrics.jsonl"

    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    from verl_metaagent.demo.warmstart import WarmStartConfig, warm_start

    task = get_task(args.task)
    ws_cfg = WarmStartConfig(
        steps=args.warmstart_steps, batch_size=args.warmstart_batch, seed=args.seed, task_name=args.task
    )
    model_dir, ws_info = warm_start(out / "model", ws_cfg)
    probs = "  ".join(f"{k} {v:.2f}" for k, v in ws_info.items() if k.startswith("p_"))
    print(f"[demo] warm-started policy (exact probabilities): {probs}", flush=True)

    train = out / "data" / "train.parquet"
    problems = task.train_problems(args.problems, args.seed)
    task.write_dataset(train, problems)
    if args.prepare_only:
        print(json.dumps({"model": str(model_dir), "train": str(train)}), flush=True)
        return 0

    if args.resume:
        start_step = latest_checkpoint_step(ckpt_dir)
        if start_step == 0:
            print(f"[demo] --resume: no checkpoint in {ckpt_dir}; starting from step 1", flush=True)
        elif start_step >= args.steps:
            print(f"[demo] --resume: the latest checkpoint is step {start_step} >= --steps {args.steps}; nothing to do",
                  flush=True)
            return 0
        else:
            print(f"[demo] resuming from {ckpt_dir / f'global_step_{start_step}'} at step {start_step + 1}", flush=True)
    else:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
        metrics.unlink(missing_ok=True)
    launch_metrics = out / "launch_metrics.jsonl"
    launch_metrics.unlink(missing_ok=True)

    from verl_metaagent.cpu import cpu_env

    env = cpu_env(VERL_FILE_LOGGER_PATH=str(launch_metrics), PYTHONWARNINGS="ignore")
    overrides = demo_overrides(
        Path(model_dir),
        train,
        out,
        steps=args.steps,
        batch_size=args.batch_size,
        rows_per_mini_batch=args.rows_per_mini_batch,
        num_designs=args.designs,
        num_executions=args.executions,
        phase_length=args.phase_length,
        lr=args.lr,
        ppo_epochs=args.ppo_epochs,
        save_freq=args.save_freq,
        seed=args.seed,
        resume=args.resume,
        max_agent_calls=task.max_agent_calls,
    )
    cmd = [sys.executable, "-m", "verl_metaagent.main", *overrides, *args.extra]
    (out / "command.json").write_text(json.dumps(cmd, indent=1))
    log_path = out / "train.log"
    print(
        f"[demo] RL: python -m verl_metaagent.main ({len(cmd) - 3} overrides in {out / 'command.json'}); "
        f"M={args.designs} N={args.executions} K={args.phase_length}, {args.batch_size} problems/step; "
        f"verl's log: {log_path}",
        flush=True,
    )
    print("[demo] starting Ray and verl's workers (about a minute on 2 cores) ...", flush=True)
    with open(log_path, "ab" if args.resume else "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _follow(proc, launch_metrics, metrics, args.steps)
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            raise
    rc = proc.returncode

    rows = report.read_rows(metrics)
    designer_subdir = report.separate_designer_subdir(ckpt_dir)
    policy = policy_change(Path(model_dir), ckpt_dir, problems, args.task, designer_subdir)
    summary = {"summary": report.summarize(rows), "policy": policy, "warm_start": ws_info, "rows": rows,
               "wall_seconds": round(time.monotonic() - started, 1), "exit_code": rc}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    if rows:
        report.plot(rows, out / "reward.png")
        s = summary["summary"]
        for key, label in (("designer_reward", "designer reward"), ("executor_reward", "executor reward"),
                           ("vote_share", "vote-design share")):
            v = s[key]
            if v["first"] is not None and v["last"] is not None:
                print(f"[demo] {label:<18} first {s['window']} steps {v['first']:.3f} -> last {s['window']} steps "
                      f"{v['last']:.3f} ({v['change']:+.3f})")
        if policy and args.task == "arith":
            a, b = policy["warm_start"], policy["final"]
            print(
                f"[demo] policy on the {len(problems)} RL problems, "
                f"warm start -> step {policy['final_step']} checkpoint "
                f"(exact probabilities): P(design=vote) {a['p_design_vote']:.3f} -> {b['p_design_vote']:.3f}, "
                f"P(agent call correct) {a['p_executor_correct']:.3f} -> {b['p_executor_correct']:.3f}"
            )
        print(f"[demo] wrote {metrics}, {out / 'summary.json'}, {out / 'reward.png'}; checkpoints in {ckpt_dir}")
    print(f"[demo] done in {time.monotonic() - started:.0f} s", flush=True)
    if rc != 0:
        print(f"[demo] the training run failed with exit code {rc}; last lines of {log_path}:\n{_tail(log_path)}",
              file=sys.stderr)
    return rc
