"""Start-up checks of the run config that protect the training dynamics (issue: faithful dynamics)."""

import pytest
from hydra import compose, initialize_config_dir

from verl_metaagent.config import CONFIG_DIR
from verl_metaagent.config.schema import validate_run_config
from verl_metaagent.utils.config_utils import ConfigError


def cfg(*overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose("metaagent_trainer", overrides=["data.train_batch_size=2", "actor_rollout_ref.actor.ppo_mini_batch_size=1", *overrides])


def test_defaults_pass_and_accept_the_releases_truncated_designer_sampling():
    meta = validate_run_config(cfg())
    assert meta.rollout.designer_sampling.top_p == 0.9 and meta.rollout.truncated_sampling == "accept"


@pytest.mark.parametrize("role", ["designer", "executor"])
def test_a_role_temperature_other_than_the_logprob_pass_fails(role):
    with pytest.raises(ConfigError, match=rf"metaagent.rollout.{role}_sampling.temperature.*actor_rollout_ref.rollout.temperature=1"):
        validate_run_config(cfg(f"metaagent.rollout.{role}_sampling.temperature=0.7"))
    # both moved together is on-policy again
    validate_run_config(cfg(f"metaagent.rollout.{role}_sampling.temperature=0.7", "actor_rollout_ref.rollout.temperature=0.7",
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
        validate_run_config(cfg(override, "metaagent.rollout.truncated_sampling=reject", "metaagent.rollout.designer_sampling.top_p=1.0")
                            if "designer" not in key else cfg(override, "metaagent.rollout.truncated_sampling=reject"))
