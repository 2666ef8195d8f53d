"""scripts/gpu_smoke.sh with DRY_RUN=1: writes the demo data, composes and validates the config
(python -m verl_metaagent.dry_run, verl's checks included) and prints the training command."""

import os
import re
import subprocess
import sys

import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_gpu_smoke_dry_run(tmp_path):
    out = tmp_path / "smoke"
    env = dict(os.environ, DRY_RUN="1", OUT=str(out), PYTHON=sys.executable, PYTHONWARNINGS="ignore")
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "gpu_smoke.sh"), "trainer.experiment_name=ci_check"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = proc.stdout
    # the composed config: one GPU, vLLM, the small Qwen3, 2 steps, the demo-sized tree
    assert "model                        Qwen/Qwen3-0.6B" in text
    assert "hardware                     1 node(s) x 1 GPUs, rollout vllm (TP 1)" in text
    assert "tree / phases                M=2 N=2, phase alternate (K=1, first executor)" in text
    assert re.search(r"^  total_training_steps: 2$", text, re.M)
    assert "verl_metaagent.main.check_config (incl. verl validate_config)" in text  # verl's own checks ran
    assert "== warnings" not in text  # the data it wrote is usable
    # the data: the demo's problems as verl rows
    frame = pd.read_parquet(out / "data" / "train.parquet")
    assert len(frame) == 16 and {"data_source", "prompt", "reward_model", "extra_info"} <= set(frame.columns)
    # the command it would run, with the user's override last, and what to look at afterwards
    lines = text.splitlines()
    command = lines[lines.index("[gpu_smoke] the training command:") + 1]
    assert "actor_rollout_ref.rollout.name=vllm" in command and f"data.train_files={out}/data/train.parquet" in command
    assert command.rstrip().endswith("trainer.experiment_name=ci_check")
    assert "what to check in" in text and "step:2" in text


def test_gpu_smoke_without_a_gpu_says_what_to_do(tmp_path):
    env = dict(os.environ, OUT=str(tmp_path / "smoke"), PYTHON=sys.executable, PATH="/usr/bin:/bin")
    env.pop("DRY_RUN", None)
    proc = subprocess.run(["bash", os.path.join(ROOT, "scripts", "gpu_smoke.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "no GPU visible" in proc.stdout and "python -m verl_metaagent.demo" in proc.stdout
