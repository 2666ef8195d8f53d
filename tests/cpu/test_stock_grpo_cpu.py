"""Slow end-to-end check: verl 0.9.1's *stock* GRPO trainer runs 2 steps on CPU with our plugin.

Runs ``python -m verl.trainer.main_ppo`` as a subprocess with ``VERL_USE_EXTERNAL_MODULES=verl_metaagent
VERL_PLATFORM=cpu``, a tiny random Qwen3 model, an 8-row parquet and a trivial reward file, and parses
the console logger's ``step:N - key:value - ...`` lines. The command line is the one documented in
docs/cpu.md (:func:`cpu_grpo_command` builds it). Takes ~2 minutes on 2 cores.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_assets import build_tiny_model, write_dataset, write_reward_fn  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
STEP_LINE = re.compile(r"step:(\d+) - (.*)$")


def cpu_grpo_overrides(model_dir: Path, data: Path, reward_fn: Path, ckpt_dir: Path, steps: int = 2) -> list[str]:
    """Hydra overrides for the stock GRPO trainer on the cpu platform (see docs/cpu.md)."""
    from verl_metaagent.cpu import cpu_engine_overrides

    return cpu_engine_overrides(str(model_dir)) + [
        "algorithm.adv_estimator=grpo",
        "algorithm.use_kl_in_reward=False",
        f"data.train_files={data}",
        f"data.val_files={data}",
        "data.train_batch_size=4",
        "data.max_prompt_length=64",
        "data.max_response_length=16",
        "data.dataloader_num_workers=0",
        "actor_rollout_ref.actor.ppo_mini_batch_size=4",
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.actor.use_kl_loss=False",
        "actor_rollout_ref.actor.optim.lr=1e-4",
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=4",
        "actor_rollout_ref.rollout.n=2",
        f"reward.custom_reward_function.path={reward_fn}",
        "reward.custom_reward_function.name=compute_score",
        "reward.num_workers=1",
        "trainer.logger=[console]",
        "trainer.val_before_train=False",
        "trainer.test_freq=-1",
        "trainer.save_freq=-1",
        f"trainer.total_training_steps={steps}",
        "trainer.total_epochs=1",
        "trainer.project_name=cpu_smoke",
        "trainer.experiment_name=stock_grpo",
        f"trainer.default_local_dir={ckpt_dir}",
    ]


def cpu_env() -> dict[str, str]:
    """Environment that selects the plugin and the cpu platform (inherited by Ray workers)."""
    from verl_metaagent.cpu import cpu_env as plugin_cpu_env

    return plugin_cpu_env(RAY_DEDUP_LOGS="0")


def parse_step_metrics(stdout: str) -> dict[int, dict[str, str]]:
    """``{step: {metric: value-string}}`` from verl's console logger lines."""
    steps: dict[int, dict[str, str]] = {}
    for line in stdout.splitlines():
        m = STEP_LINE.search(line)
        if not m:
            continue
        metrics = {}
        for item in m.group(2).split(" - "):
            key, sep, value = item.partition(":")
            if sep:
                metrics[key.strip()] = value.strip()
        steps[int(m.group(1))] = metrics
    return steps


def test_parse_step_metrics():
    """The parser reads the console format verl prints."""
    out = "(TaskRunnerV1 pid=1) step:2 - actor/loss:-0.5 - timing_s/step:2.45\nnoise\n"
    assert parse_step_metrics(out) == {2: {"actor/loss": "-0.5", "timing_s/step": "2.45"}}


@pytest.mark.slow
@pytest.mark.verl_trainer
def test_stock_grpo_runs_two_steps_on_cpu(tmp_path):
    """verl's stock GRPO trainer completes 2 steps on CPU; rollout and trainer logprobs agree."""
    model_dir = build_tiny_model(tmp_path / "model")
    data = write_dataset(tmp_path / "train.parquet", rows=8)
    reward_fn = write_reward_fn(tmp_path / "reward_fn.py")
    cmd = [sys.executable, "-m", "verl.trainer.main_ppo"] + cpu_grpo_overrides(
        model_dir, data, reward_fn, tmp_path / "ckpt", steps=2
    )
    proc = subprocess.run(
        cmd, cwd=tmp_path, env=cpu_env(), capture_output=True, text=True, timeout=420
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    steps = parse_step_metrics(output)
    assert sorted(steps) == [1, 2], output[-4000:]
    last = steps[2]
    assert float(last["training/global_step"]) == 2
    # the cpu rollout's logprobs match the FSDP engine's recomputation
    assert float(last["training/rollout_probs_diff_mean"]) < 1e-3
    assert 0.0 <= float(last["critic/score/mean"]) <= 1.0
    assert 1 <= float(last["response_length/mean"]) <= 16
    for step in (1, 2):
        assert float(steps[step]["timing_s/step"]) > 0
        assert float(steps[step]["actor/grad_norm"]) > 0
