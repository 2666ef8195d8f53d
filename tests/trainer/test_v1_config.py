"""The v1 trainer mode's start-up: its rollout manager, the features it rejects, the entry point's mode check."""

import pytest
from hydra import compose, initialize_config_dir

from verl_metaagent.config import CONFIG_DIR
from verl_metaagent.trainer.v1_trainer import LEGACY_MANAGER_FQN, MANAGER_FQN, prepare_v1_config
from verl_metaagent.utils.config_utils import ConfigError


def cfg(*overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose("metaagent_trainer", overrides=[
            "data.train_batch_size=2", "actor_rollout_ref.actor.ppo_mini_batch_size=1", "trainer.n_gpus_per_node=1",
            "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu=1",
            "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu=1",
            "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu=1", *overrides])


def test_defaults_select_the_v1_mode_and_its_tree_manager():
    c = cfg()
    assert c.trainer.use_v1 is True and c.trainer.v1.trainer_mode == "metaagent"
    prepare_v1_config(c)
    assert c.actor_rollout_ref.rollout.agent.agent_loop_manager_class == MANAGER_FQN


def test_the_legacy_manager_is_replaced_and_a_foreign_one_rejected():
    c = cfg(f"+actor_rollout_ref.rollout.agent.agent_loop_manager_class={LEGACY_MANAGER_FQN}")
    prepare_v1_config(c)
    assert c.actor_rollout_ref.rollout.agent.agent_loop_manager_class == MANAGER_FQN
    with pytest.raises(ConfigError, match="agent_loop_manager_class.*does not write design-execute trees"):
        prepare_v1_config(
            cfg("+actor_rollout_ref.rollout.agent.agent_loop_manager_class=verl.trainer.ppo.v1.AgentLoopManagerTQ"))


@pytest.mark.parametrize(
    "override,key",
    [
        ("algorithm.use_kl_in_reward=true", "algorithm.use_kl_in_reward"),
        ("critic.enable=true", "critic.enable"),
        ("reward.reward_model.enable=true", "reward.reward_model.enable"),
        ("algorithm.adv_estimator=grpo", "algorithm.adv_estimator"),
    ],
)
def test_unsupported_features_fail_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        prepare_v1_config(cfg(override))


def test_the_entry_point_refuses_another_trainer_mode_and_knows_the_legacy_path():
    from verl_metaagent.main import check_config

    with pytest.raises(ConfigError, match="trainer.v1.trainer_mode.*'sync'"):
        check_config(cfg("trainer.v1.trainer_mode=sync"))
    assert check_config(cfg("trainer.v1.trainer_mode=metaagent_colocate_async")) == "v1"
    assert check_config(cfg("trainer.use_v1=false")) == "legacy"
