"""Start-up checks of the run config that protect the training dynamics (issue: faithful dynamics)."""

import pytest
from hydra import compose, initialize_config_dir

from verl_metaagent.config import CONFIG_DIR
from verl_metaagent.config.schema import validate_run_config
from verl_metaagent.utils.config_utils import ConfigError


def cfg(*overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose("metaagent_trainer", overrides=["data.train_batch_size=2",
                                                       "actor_rollout_ref.actor.ppo_mini_batch_size=1", *overrides])


def test_defaults_pass_and_accept_the_releases_truncated_designer_sampling():
    meta = validate_run_config(cfg())
    assert meta.rollout.designer_sampling.top_p == 0.9 and meta.rollout.truncated_sampling == "accept"


@pytest.mark.parametrize("role", ["designer", "executor"])
def test_a_role_temperature_other_than_the_logprob_pass_fails(role):
    with pytest.raises(ConfigError, match=rf"metaagent.rollout.{role}_sampling.temperature"
                                          r".*actor_rollout_ref.rollout.temperature=1"):
        validate_run_config(cfg(f"metaagent.rollout.{role}_sampling.temperature=0.7"))
    # both moved together is on-policy again
    validate_run_config(
        cfg(f"metaagent.rollout.{role}_sampling.temperature=0.7", "actor_rollout_ref.rollout.temperature=0.7",
            f"metaagent.rollout.{'executor' if role == 'designer' else 'designer'}_sampling.temperature=0.7"))


@pytest.mark.parametrize(
    "override,key",
    [
        ("metaagent.rollout.executor_sampling.top_k=20", "executor_sampling.top_k"),
        ("metaagent.rollout.executor_sampling.repetition_penalty=1.1", "executor_sampling.repetition_penalty"),
        ("metaagent.rollout.designer_sampling.top_p=0.5", "designer_sampling.top_p"),
    ],
)
def test_truncated_sampling_needs_an_explicit_accept(override, key):
    validate_run_config(cfg(override))  # accepted by default (the release's designer sampling)
    with pytest.raises(ConfigError, match=rf"{key}.*truncated_sampling=reject"):
        validate_run_config(cfg(override, "metaagent.rollout.truncated_sampling=reject",
                                "metaagent.rollout.designer_sampling.top_p=1.0")
                            if "designer" not in key else cfg(override, "metaagent.rollout.truncated_sampling=reject"))


def test_verls_dr_grpo_switch_is_honoured():
    assert validate_run_config(cfg()).advantage.norm_by_std is True
    assert validate_run_config(cfg("algorithm.norm_adv_by_std_in_grpo=false")).advantage.norm_by_std is False
    assert validate_run_config(cfg("metaagent.advantage.norm_by_std=false")).advantage.norm_by_std is False


@pytest.mark.parametrize(
    "task_type,validate,row_setting,expected",
    [
        ("code", False, None, "pass_rate"),  # training: the release's pass fraction
        ("code", True, None, "all_pass"),  # validation: full passes only
        ("code", False, "all_pass", "all_pass"),  # the dataset row's own setting wins
        ("math", False, None, None),
    ],
)
def test_code_reward_is_pass_fraction_in_training_and_all_pass_in_validation(task_type, validate, row_setting,
                                                                             expected):
    from verl_metaagent.rollout.config import load_rollout_config
    from verl_metaagent.rollout.tree_runner import ProblemSpec, TreeRunner

    extra = {"index": 3, **({"code_grading": {"score": row_setting}} if row_setting else {})}
    problem = ProblemSpec("p", 0, "q", task_type, f"{task_type}/x", None, extra)
    runner = TreeRunner(load_rollout_config(None), None, None, prompt_length=8, response_length=8, validate=validate)
    info = runner._grading_info(problem)
    assert info.get("code_grading", {}).get("score") == expected
    if expected == "pass_rate":
        assert info["code_grading"]["early_exit"] is False
    assert info["index"] == 3 and problem.extra_info == extra  # the problem's own dict is not modified


async def test_pass_fraction_reaches_the_code_grader():
    """Through reward_fns' real code grader (sandboxed): 2 of 3 tests pass -> 2/3 in training, 0 in validation."""
    import reward_fns

    tests = {"inputs": ["1\n", "2\n", "3\n"], "outputs": ["1\n", "2\n", "4\n"]}
    program = "print(input())"
    train = await reward_fns.grade_async("code/apps", program, tests,
                                         {"code_grading": {"score": "pass_rate", "early_exit": False}})
    val = await reward_fns.grade_async("code/apps", program, tests, {"code_grading": {"score": "all_pass"}})
    score = lambda r: r.score if hasattr(r, "score") else (r["score"] if isinstance(r, dict) else float(r))  # noqa: E731
    assert score(train) == pytest.approx(2 / 3)
    assert score(val) == 0.0


def test_the_sandbox_section_is_validated_at_start_and_applied_by_the_workers(monkeypatch):
    import os

    from verl_metaagent.rollout.config import apply_sandbox_settings

    with pytest.raises(ConfigError, match="metaagent.sandbox"):
        validate_run_config(cfg("+metaagent.sandbox.no_such_knob=1"))
    validate_run_config(cfg("+metaagent.sandbox.mode=spawn"))
    for key in [k for k in os.environ if k.startswith("VERL_METAAGENT_SANDBOX")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the worker writes the process environment
    apply_sandbox_settings({"mode": "spawn", "jail": False})
    assert os.environ["VERL_METAAGENT_SANDBOX_MODE"] == "spawn"
    assert os.environ["VERL_METAAGENT_SANDBOX_JAIL"] in ("0", "false")
    os.environ["VERL_METAAGENT_SANDBOX_MODE"] = "zygote"  # an explicit variable wins over the config
    apply_sandbox_settings({"mode": "spawn"})
    assert os.environ["VERL_METAAGENT_SANDBOX_MODE"] == "zygote"
