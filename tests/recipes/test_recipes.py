"""Every recipe composes (Hydra compose API, in-process, no Ray) and passes the start-up validators;
the dry run prints the resolved config and the rollout volume."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES = os.path.join(ROOT, "recipes")
TRAINER_YAML = os.path.join(ROOT, "verl_metaagent", "config", "metaagent_trainer.yaml")

pytestmark = pytest.mark.skipif(
    not os.path.isfile(TRAINER_YAML),
    reason="verl_metaagent/config/metaagent_trainer.yaml (the trainer config) is not there yet"
)

from verl_metaagent import dry_run  # noqa: E402

ALL = dry_run.list_recipes(RECIPES)

# recipe -> expected (M, N, phase mode, K, first role, advantage mode)
EXPECTED_TREE = {
    "qwen3_4b_main": (4, 4, "alternate", 30, "executor", "hierarchical"),
    "qwen3_8b_main": (4, 4, "alternate", 30, "executor", "hierarchical"),
    "ablation_m8_n1": (8, 1, "alternate", 30, "executor", "hierarchical"),
    "ablation_k1": (4, 4, "alternate", 1, "executor", "hierarchical"),
    "ablation_simultaneous": (4, 4, "simultaneous", 30, "executor", "hierarchical"),
    "ablation_designer_only": (4, 4, "designer_only", 30, "executor", "hierarchical"),
    "ablation_executor_only": (4, 4, "executor_only", 30, "executor", "hierarchical"),
    "ablation_flat_grpo": (4, 4, "simultaneous", 30, "executor", "flat_grpo"),
    "ablation_separate_params": (4, 4, "alternate", 30, "executor", "hierarchical"),
    "eval_test_benchmarks": (4, 4, "alternate", 30, "executor", "hierarchical"),
}


def test_recipe_list_is_complete():
    assert set(ALL) == set(EXPECTED_TREE) | {"baseline_single_agent_grpo", "eval_test_benchmarks"}
    for name in ALL:  # each recipe has its launcher
        assert os.access(os.path.join(RECIPES, f"run_{name}.sh"), os.X_OK), name


@pytest.mark.parametrize("name", ALL)
def test_recipe_composes_and_validates(name):
    cfg, entry = dry_run.compose_recipe(name, recipes_dir=RECIPES)
    checks = dry_run.validate(cfg, entry)
    assert cfg.recipe_info.name == name
    assert cfg.recipe_info.reproduces
    assert cfg.recipe_info.hardware.gpus_per_node == cfg.trainer.n_gpus_per_node == 8
    # the release's settings shared by every recipe
    assert cfg.data.train_batch_size == 8
    assert (cfg.data.max_prompt_length, cfg.data.max_response_length) == (8192, 8192)
    assert cfg.data.seed == 0 and cfg.data.shuffle is True
    actor = cfg.actor_rollout_ref.actor
    assert actor.optim.lr == pytest.approx(5e-6)
    assert (actor.clip_ratio, actor.loss_agg_mode, actor.use_kl_loss) == (0.2, "token-mean", False)
    assert cfg.algorithm.use_kl_in_reward is False
    assert cfg.actor_rollout_ref.rollout.name == "vllm"
    assert cfg.actor_rollout_ref.rollout.val_kwargs.temperature == 0
    if name == "eval_test_benchmarks":  # scores one given checkpoint; never part of a training run
        assert cfg.trainer.val_only is True
        assert [os.path.basename(f) for f in cfg.data.val_files] == [
            "aime24.parquet", "aime25.parquet", "olympiadbench.parquet", "apps_test.parquet",
            "livecodebench_v6.parquet", "codecontests_test.parquet",
        ]
        assert (cfg.metaagent.rollout.validation.num_designs, cfg.metaagent.rollout.validation.num_executions) == (1, 1)
    else:  # validation during training: held-out training data, never a test benchmark
        assert cfg.trainer.get("val_only", False) is False
        assert "val_heldout" in str(cfg.data.val_files)
        for bench in ("aime", "olympiad", "livecodebench", "apps_test", "codecontests_test"):
            assert bench not in str(cfg.data.val_files).lower()
    if name == "baseline_single_agent_grpo":
        assert entry == dry_run.STOCK_ENTRY
        assert cfg.algorithm.adv_estimator == "grpo" and cfg.actor_rollout_ref.rollout.n == 16
        assert cfg.reward.custom_reward_function.path == "pkg://reward_fns"
        assert "metaagent" not in cfg
        assert checks == ["verl.utils.config.validate_config"]
        return
    assert entry == dry_run.METAAGENT_ENTRY
    assert "verl_metaagent.main.check_config (incl. verl validate_config)" in checks
    assert cfg.algorithm.adv_estimator == "metaagent" and cfg.actor_rollout_ref.rollout.n == 1
    m = cfg.metaagent
    got = (m.rollout.num_designs, m.rollout.num_executions, m.phase.mode, m.phase.phase_length, m.phase.first_role,
           m.advantage.mode)
    assert got == EXPECTED_TREE[name]
    assert m.get("parameters", "shared") == ("separate" if name == "ablation_separate_params" else "shared")
    # docs/recipes.md fidelity table: the release's designer sampling, on-policy executors, optimizer steps,
    # code reward, execution limits, entropy
    d, e = m.rollout.designer_sampling, m.rollout.executor_sampling
    assert (d.temperature, d.top_p, d.top_k, d.repetition_penalty) == (1.0, 0.9, 20, 1.1)
    assert (e.temperature, e.top_p) == (1.0, 1.0)
    assert (m.actor_update.rows_per_mini_batch, m.actor_update.role_passes, actor.ppo_epochs) == (16, "separate", 1)
    assert m.rollout.train_code_reward == "pass_rate"
    assert (m.rollout.budget.wall_seconds, m.rollout.budget.max_total_tokens) == (1260.0, None)
    assert actor.entropy_coeff == 0 and cfg.trainer.total_training_steps == 200
    assert cfg.data.apply_chat_template_kwargs.enable_thinking is False
    assert actor.ppo_mini_batch_size == 4
    want_model = "Qwen/Qwen3-8B" if ("8b" in name or name.startswith("eval")) else "Qwen/Qwen3-4B"
    if "MODEL_PATH" not in os.environ:
        assert cfg.actor_rollout_ref.model.path == want_model


def test_overrides_win_and_bad_values_name_the_key():
    from verl_metaagent.utils.config_utils import ConfigError

    cfg, entry = dry_run.compose_recipe("qwen3_4b_main", ["metaagent.rollout.num_designs=2",
                                                          "actor_rollout_ref.rollout.name=sglang"], recipes_dir=RECIPES)
    assert cfg.metaagent.rollout.num_designs == 2 and cfg.actor_rollout_ref.rollout.name == "sglang"
    bad, entry = dry_run.compose_recipe("qwen3_4b_main", ["metaagent.rollout.num_executions=0"], recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="metaagent.rollout.num_executions"):
        dry_run.validate(bad, entry)
    bad, entry = dry_run.compose_recipe("qwen3_4b_main", ["actor_rollout_ref.actor.ppo_mini_batch_size=3"],
                                        recipes_dir=RECIPES)
    with pytest.raises(ConfigError, match="ppo_mini_batch_size"):
        dry_run.validate(bad, entry, verl_checks=False)
    with pytest.raises(FileNotFoundError, match="Available: .*qwen3_4b_main"):
        dry_run.compose_recipe("no_such_recipe", recipes_dir=RECIPES)


def test_volume_estimate_values():
    cfg, entry = dry_run.compose_recipe("qwen3_4b_main", recipes_dir=RECIPES)
    v = dry_run.estimate_volume(cfg, entry, calls=3)
    assert (v.problems, v.designs, v.executions, v.agent_calls) == (8, 32, 128, 384)
    assert (v.designer_rows, v.executor_rows) == (32, 384)
    # designer: 32 x 8192 new; executor: 128 executions x 3 x 8192 new (no token cap, as the release)
    assert v.max_generated_tokens == 32 * 8192 + 128 * 3 * 8192
    assert v.max_total_tokens == 32 * 16384 + 128 * 3 * 16384
    worst = dry_run.estimate_volume(cfg, entry)  # budget max_agent_calls (16), rows capped at 16
    assert worst.calls_per_execution == 16 and worst.executor_rows == 128 * 16
    assert worst.max_generated_tokens == 32 * 8192 + 128 * 16 * 8192
    capped, entry = dry_run.compose_recipe("qwen3_4b_main", ["metaagent.rollout.budget.max_total_tokens=65536"],
                                           recipes_dir=RECIPES)
    assert dry_run.estimate_volume(capped, entry).max_generated_tokens == 32 * 8192 + 128 * 65536  # the token cap binds
    m8, entry = dry_run.compose_recipe("ablation_m8_n1", recipes_dir=RECIPES)
    v8 = dry_run.estimate_volume(m8, entry, calls=2)
    assert (v8.designs, v8.executions, v8.agent_calls) == (64, 64, 128)
    base, entry = dry_run.compose_recipe("baseline_single_agent_grpo", recipes_dir=RECIPES)
    vb = dry_run.estimate_volume(base, entry)
    assert (vb.kind, vb.executions, vb.agent_calls, vb.designer_rows) == ("flat", 128, 128, 0)
    assert vb.max_total_tokens == 128 * 16384
    assert any(line.startswith("answers (LLM requests)       128") for line in vb.lines())


@pytest.mark.parametrize("recipe", ["qwen3_8b_main", "qwen3_4b_main"])
def test_optimizer_steps_grow_with_the_executor_rows(recipe):
    """The release updates with 16-row mini-batches: ~2 designer and ~24 executor optimizer steps per
    step at M=4, N=4, 8 problems and 3 calls per execution (the trainer used to take 2 for both)."""
    cfg, _ = dry_run.compose_recipe(recipe, recipes_dir=RECIPES)
    line = dry_run.optimizer_steps_line(cfg)
    m = re.match(r"optimizer steps per training step: designer (\d+), executor (\d+)  \(assuming 3 agent calls", line)
    assert m, line
    # 32 designer rows / 16 = 2; 8 x 4 x 4 executions x 3 rows = 384 rows / 16 = 24
    assert (int(m.group(1)), int(m.group(2))) == (2, 24)
    assert int(m.group(2)) >= 10
    assert "designer 2, executor 8" in dry_run.optimizer_steps_line(cfg, calls=1)


def test_dry_run_cli_prints_config_and_volume():
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "python"), "-m", "verl_metaagent.dry_run", "--recipe", "ablation_k1",
         "--calls", "2", "data.train_batch_size=16"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "phase_length: 1" in out and "adv_estimator: metaagent" in out  # resolved config
    assert re.search(r"problems per step\s+16", out)
    assert re.search(r"agent calls \(LLM requests\)\s+512", out)  # 16 x 4 x 4 x 2
    # 64 designer rows -> 4; 16 x 4 x 4 x 2 = 512 executor rows -> 32 optimizer steps of 16 rows
    assert "optimizer steps per training step: designer 4, executor 32  (assuming 2 agent calls" in out
    train = re.search(r"train / val files\s+\[?'?([^'\],\s]+)", out).group(1)
    if not os.path.exists(os.path.join(ROOT, train)):  # data not prepared here: the dry run says so, and still exits 0
        assert "== warnings (training would stop here)" in out and f"data.train_files names '{train}'" in out
    bad = subprocess.run(
        [os.path.join(ROOT, ".venv", "bin", "python"), "-m", "verl_metaagent.dry_run", "--recipe", "qwen3_4b_main",
         "--skip-verl-checks", "metaagent.phase.phase_length=0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )
    assert bad.returncode == 2 and "metaagent.phase.phase_length" in bad.stderr


@pytest.mark.parametrize("name,entry_marker",
                         [("ablation_m8_n1", "num_designs: 8"), ("baseline_single_agent_grpo", "adv_estimator: grpo")])
def test_launcher_composes_like_the_dry_run(name, entry_marker):
    """run_recipe.sh builds the real training command; Hydra's --cfg job prints its config and exits."""
    env = dict(os.environ, PYTHON=os.path.join(ROOT, ".venv", "bin", "python"), PYTHONWARNINGS="ignore", NNODES="2",
               ROLLOUT_ENGINE="sglang")
    proc = subprocess.run(
        [os.path.join(RECIPES, f"run_{name}.sh"), "--cfg", "job"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=240
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert entry_marker in proc.stdout
    assert re.search(r"^  nnodes: 2$", proc.stdout, re.M)  # NNODES -> trainer.nnodes
    assert "name: sglang" in proc.stdout
    assert f"name: {name}" in proc.stdout  # recipe_info
