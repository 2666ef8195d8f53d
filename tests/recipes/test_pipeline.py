"""recipes/run_paper_pipeline.sh: distil -> SFT -> RL -> export -> eval, one prompt variant throughout."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "recipes" / "run_paper_pipeline.sh"


@pytest.mark.slow
def test_dry_run_of_the_whole_chain(tmp_path):
    env = dict(os.environ, DRY_RUN="1", PYTHON=sys.executable, WORK=str(tmp_path / "work"), PYTHONWARNINGS="ignore")
    proc = subprocess.run(["bash", str(PIPELINE), "qwen3_4b"], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    log = proc.stderr
    stages = [line for line in log.splitlines() if line.startswith("[pipeline]")]
    # every stage ran its dry run, in order, and each stage's output is the next one's input
    assert "distil (dry run)" in stages[0] and f"--out {tmp_path}/work/cold_start" in stages[0]
    assert (f"METAAGENT_SFT_DIR={tmp_path}/work/cold_start" in stages[1]
            and "run_sft_cold_start.sh qwen3_4b" in stages[1])
    assert "sft/global_step_N/huggingface/metaagent_run.json (prompt_variant=short, stage=sft)" in stages[2]
    assert "run_recipe.sh qwen3_4b_main metaagent.rollout.prompt_variant=short" in stages[3]
    assert f"--local_dir {tmp_path}/work/rl/global_step_N/actor --target_dir {tmp_path}/work/rl_hf" in stages[4]
    assert "run_eval_test_benchmarks.sh metaagent.rollout.prompt_variant=short" in stages[6]
    # the RL and eval dry runs composed with the short prompt (resolved configs on stdout)
    assert proc.stdout.count("prompt_variant: short") >= 2
    assert "optimizer steps per training step: designer 2, executor 24" in proc.stdout


def test_eval_of_a_short_prompt_checkpoint_with_the_full_prompt_is_refused(tmp_path):
    """eval_test_benchmarks inherits prompt_variant=full; a cold-started checkpoint says it needs short."""
    from verl_metaagent import dry_run
    from verl_metaagent.trainer.provenance import run_info, write_run_info
    from verl_metaagent.utils.config_utils import ConfigError

    model = tmp_path / "rl_hf"
    write_run_info(str(model), run_info("short", "rl"))
    cfg, entry = dry_run.compose_recipe("eval_test_benchmarks", [f"actor_rollout_ref.model.path={model}"],
                                        recipes_dir=str(ROOT / "recipes"))
    with pytest.raises(ConfigError, match="set metaagent.rollout.prompt_variant=short"):
        dry_run.validate(cfg, entry, verl_checks=False)
    cfg, entry = dry_run.compose_recipe(
        "eval_test_benchmarks", [f"actor_rollout_ref.model.path={model}", "metaagent.rollout.prompt_variant=short"],
        recipes_dir=str(ROOT / "recipes"),
    )
    dry_run.validate(cfg, entry, verl_checks=False)
