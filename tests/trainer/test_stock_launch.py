"""``metaagent.*`` overrides on verl's stock launcher (verl_metaagent.stock_launch)."""

from hydra import compose, initialize_config_dir

import verl.trainer.config as verl_config_pkg

from verl_metaagent.stock_launch import apply_to_stock_launch, rewrite_overrides


def test_metaagent_overrides_become_add_or_override():
    args, notes = rewrite_overrides(["metaagent.phase.phase_length=2", "data.train_batch_size=4",
                                     "++metaagent.actor_update.role_passes=mixed"])
    assert args == ["++metaagent.phase.phase_length=2", "data.train_batch_size=4",
                    "++metaagent.actor_update.role_passes=mixed"]
    assert len(notes) == 1


def test_mode_adds_its_estimator_unless_the_user_chose_one():
    args, _ = rewrite_overrides(["trainer.v1.trainer_mode=metaagent"])
    assert args == ["trainer.v1.trainer_mode=metaagent", "algorithm.adv_estimator=metaagent"]
    args, _ = rewrite_overrides(["trainer.v1.trainer_mode=metaagent", "algorithm.adv_estimator=grpo"])
    # the trainer rejects it, loudly
    assert args == ["trainer.v1.trainer_mode=metaagent", "algorithm.adv_estimator=grpo"]
    args, notes = rewrite_overrides(["trainer.v1.trainer_mode=sync", "--config-name", "x"])
    assert args == ["trainer.v1.trainer_mode=sync", "--config-name", "x"] and notes == []


def test_rewritten_overrides_compose_with_verls_own_config():
    """The rewritten command line is accepted by Hydra on verl's stock ppo_trainer.yaml."""
    import os

    argv = ["prog", "trainer.v1.trainer_mode=metaagent", "metaagent.phase.phase_length=2",
            "metaagent.rollout.num_designs=3"]
    assert apply_to_stock_launch(argv)
    with initialize_config_dir(config_dir=os.path.dirname(verl_config_pkg.__file__), version_base=None):
        cfg = compose("ppo_trainer", overrides=argv[1:])
    assert cfg.metaagent.phase.phase_length == 2
    assert cfg.metaagent.rollout.num_designs == 3
    assert cfg.algorithm.adv_estimator == "metaagent"
    assert cfg.trainer.v1.trainer_mode == "metaagent"


def test_stock_launch_is_recognised_from_the_interpreters_command_line():
    from verl_metaagent.stock_launch import is_stock_launch

    assert is_stock_launch(["python", "-m", "verl.trainer.main_ppo", "a=1"], "-m")
    assert is_stock_launch(["python", "-u", "-m", "verl.trainer.main_ppo"], "-m")
    assert not is_stock_launch(["python", "-m", "verl_metaagent.main", "a=1"], "-m")
    assert not is_stock_launch(["python", "-m", "pytest"], "-m")
    assert is_stock_launch(["python", "/x/site-packages/verl/trainer/main_ppo.py"],
                           "/x/site-packages/verl/trainer/main_ppo.py")
    assert not is_stock_launch(["python", "train.py"], "train.py")
