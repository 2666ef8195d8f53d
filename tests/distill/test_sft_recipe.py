"""The cold-start SFT recipes compose over verl's sft_trainer_engine config and validate; on CPU, verl's SFT
trainer runs two steps of the 4B recipe on the tiny model with the aligned dataset."""

from __future__ import annotations

import glob
import math
import os
import re
import subprocess

import pytest

from verl_metaagent.distill.export import write_sft_parquet
from verl_metaagent.distill.records import SFTSample, format_designer_answer
from verl_metaagent.utils.config_utils import ConfigError

pytest.importorskip("verl")

from verl_metaagent.distill.recipe import compose_sft_recipe, cpu_sft_overrides, sft_recipes, validate_sft_config  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
DESIGN = ("from verl_metaagent.design.api import *\nsolver = Agent('Solver', 'Solve.')\n"
          "finish(extract_answer(solver.ask()))\n")


def _write_data(folder: str, n: int = 8) -> None:
    designer, executor = [], []
    for i in range(n):
        designer.append(SFTSample(id=f"designer_{i}", role="designer", pattern="single", messages=[
            {"role": "user", "content": f"Design Multi Agent System for the Question: What is {i} + {i + 1}?"},
            {"role": "assistant", "content": format_designer_answer("math; one solver", DESIGN)}]))
        executor.append(SFTSample(id=f"executor_{i}", role="executor", pattern="single", messages=[
            {"role": "system", "content": "Solve it."}, {"role": "user", "content": f"What is {i} + {i + 1}?"},
            {"role": "assistant", "content": f"{i} + {i + 1} = {2 * i + 1}. \\boxed{{{2 * i + 1}}}"}]))
    write_sft_parquet(designer, os.path.join(folder, "designer.parquet"))
    write_sft_parquet(executor, os.path.join(folder, "executor.parquet"))


@pytest.mark.parametrize("name,model,micro", [("sft_cold_start_qwen3_4b", "Qwen/Qwen3-4B", 2),
                                              ("sft_cold_start_qwen3_8b", "Qwen/Qwen3-8B", 1)])
def test_recipes_compose_and_validate(name, model, micro, monkeypatch, tmp_path):
    monkeypatch.delenv("MODEL_PATH", raising=False)
    monkeypatch.setenv("METAAGENT_SFT_DIR", str(tmp_path))
    assert name in sft_recipes(os.path.join(ROOT, "recipes"))
    cfg = compose_sft_recipe(name, recipes_dir=os.path.join(ROOT, "recipes"))
    checks = validate_sft_config(cfg)
    assert checks == ["verl engine config", "verl optim config", "verl checkpoint config", "verl profiler config",
                      "batch / length checks", "dataset class InferenceAlignedSFTDataset"]
    assert (cfg.recipe_info.name, cfg.recipe_info.entry) == (name, "verl.trainer.sft_trainer")
    assert cfg.model.path == model and cfg.data.micro_batch_size_per_gpu == micro
    assert list(cfg.data.train_files) == [str(tmp_path / "designer.parquet"), str(tmp_path / "executor.parquet")]
    assert cfg.data.messages_key == "messages" and cfg.data.apply_chat_template_kwargs == {"enable_thinking": False}
    assert cfg.data.custom_cls.path == "pkg://verl_metaagent.distill.sft_dataset"
    assert "hf_model" in cfg.checkpoint.save_contents and cfg.engine.strategy == "fsdp2"
    assert (cfg.trainer.n_gpus_per_node, cfg.data.train_batch_size, cfg.optim.lr) == (8, 64, 1e-5)
    assert cfg.trainer.experiment_name == name
    # data checks: missing files name the key and the fix; real files pass
    with pytest.raises(ConfigError, match="data.train_files entry .*designer.parquet does not exist"):
        validate_sft_config(cfg, check_data=True)
    _write_data(str(tmp_path))
    assert validate_sft_config(cfg, check_data=True)[-1] == "data files"


@pytest.mark.parametrize("override,key", [
    ("data.train_batch_size=63", "data.train_batch_size"),
    ("data.max_token_len_per_gpu=1024", "data.max_token_len_per_gpu"),
    ("data.pad_mode=right", "data.pad_mode"),
    ("data.custom_cls.name=NoSuchClass", "data.custom_cls"),
    ("data.custom_cls.name=aligned_token_ids", "data.custom_cls"),
])
def test_bad_overrides_name_the_key(override, key):
    cfg = compose_sft_recipe("sft_cold_start_qwen3_4b", [override], recipes_dir=os.path.join(ROOT, "recipes"))
    with pytest.raises(ConfigError, match=re.escape(key)):
        validate_sft_config(cfg)


def test_dry_run_launcher_and_cli_errors(tmp_path):
    env = dict(os.environ, PYTHON=PYTHON, PYTHONWARNINGS="ignore", DRY_RUN="1", GPUS_PER_NODE="4",
               METAAGENT_SFT_DIR=str(tmp_path))
    proc = subprocess.run([os.path.join(ROOT, "recipes", "run_sft_cold_start.sh"), "qwen3_8b", "data.max_length=8192"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "sft_cold_start_qwen3_8b: OK" in proc.stderr
    assert (re.search(r"^  n_gpus_per_node: 4$", proc.stdout, re.M)
            and re.search(r"^  max_length: 8192$", proc.stdout, re.M))
    assert f"- {tmp_path}/designer.parquet" in proc.stdout
    bad = subprocess.run([os.path.join(ROOT, "recipes", "run_sft_cold_start.sh"), "qwen3_8b",
                          "data.train_batch_size=10"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith(
        "error: data.train_batch_size (10) is not divisible by the 4 processes")
    unknown = subprocess.run([os.path.join(ROOT, "recipes", "run_sft_cold_start.sh"), "qwen3_1b"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "use qwen3_4b or qwen3_8b" in unknown.stderr
    cli = [PYTHON, "-m", "verl_metaagent.distill"]
    flags = subprocess.run(cli + ["run", "--problems", str(tmp_path / "none.parquet"), "--out", str(tmp_path)],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert flags.returncode == 2 and flags.stderr.strip() == f"error: --problems {tmp_path}/none.parquet: no such file"
    _write_data(str(tmp_path))
    flags = subprocess.run(cli + ["run", "--problems", str(tmp_path / "designer.parquet"), "--out", str(tmp_path / "o"),
                                  "--base-url", "127.0.0.1:9", "--model", "m"],
                           capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert flags.returncode == 2 and "--base-url must start with http:// or https://" in flags.stderr
    flags = subprocess.run(cli + ["export", "--out", str(tmp_path / "nothing")], capture_output=True, text=True,
                           timeout=120, cwd=ROOT)
    assert flags.returncode == 2 and "run the run command first or pass --add FILE" in flags.stderr


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_verl_sft_trainer_runs_two_steps_on_cpu(tiny_model_dir, tmp_path):
    """torchrun -m verl.trainer.sft_trainer with the recipe + CPU overrides: 2 steps, finite losses,
    an HF checkpoint."""
    data, ckpt = tmp_path / "data", tmp_path / "ckpt"
    data.mkdir()
    _write_data(str(data))
    env = dict(os.environ, VERL_USE_EXTERNAL_MODULES="verl_metaagent", VERL_PLATFORM="cpu", PYTHONWARNINGS="ignore",
               METAAGENT_SFT_DIR=str(data))
    cmd = [PYTHON, "-m", "torch.distributed.run", "--nproc_per_node=1", f"--master_port={_free_port()}",
           "-m", "verl.trainer.sft_trainer", "--config-dir", ROOT, "+recipes=sft_cold_start_qwen3_4b",
           *cpu_sft_overrides(tiny_model_dir, str(ckpt)), "optim.lr=1e-3"]
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    losses = [float(x) for x in re.findall(r"train/loss:([0-9.eE+-]+)", log)]
    steps = [int(x) for x in re.findall(r"^step:(\d+) ", log, re.M)]
    assert steps == [1, 2] and len(losses) == 2 and all(math.isfinite(v) and v > 0 for v in losses)
    assert "dataset len: 16" in log
    hf = ckpt / "global_step_2" / "huggingface"
    assert glob.glob(str(hf / "*.safetensors")) and (hf / "config.json").exists()
    from transformers import AutoModelForCausalLM

    import torch

    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    after = AutoModelForCausalLM.from_pretrained(str(hf))
    diffs = [float((a - b).abs().max()) for a, b in zip(before.state_dict().values(), after.state_dict().values())]
    assert max(diffs) > 0  # the weights were trained
    assert all(torch.isfinite(p).all() for p in after.state_dict().values())
