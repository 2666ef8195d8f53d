"""MetaAgentRayTrainer's per-step processing with a fake rollout and fake workers (no Ray)."""

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from verl import DataProto
from verl.utils import tensordict_utils as tu

from verl_metaagent.config import CONFIG_DIR
from verl_metaagent.config.schema import validate_run_config
from verl_metaagent.trainer.ray_trainer import MetaAgentRayTrainer, check_trainer_features
from verl_metaagent.utils.config_utils import ConfigError

from .conftest import SPEC, fake_prompts, fake_rows


def compose_cfg(*overrides):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose("metaagent_trainer", overrides=["data.train_batch_size=2",
                                                       "actor_rollout_ref.actor.ppo_mini_batch_size=1", *overrides])


class FakeRollout:
    def __init__(self):
        self.seen = None

    def generate_sequences(self, gen_batch):
        self.seen = gen_batch
        rows = fake_rows(SPEC)
        rows.meta_info["timing"] = {"agent_loop/generate_sequences/max": 0.1}
        rows.meta_info["metaagent_metrics"] = {"metaagent/rollout/design_valid_rate": 0.75}
        return rows


class FakeCheckpointManager:
    def __init__(self):
        self.calls = []

    def sleep_replicas(self):
        self.calls.append("sleep")

    def update_weights(self, step):
        self.calls.append(("update", step))


class FakeActorWG:
    def __init__(self):
        self.update_td = None

    def update_actor(self, td):
        self.update_td = td
        return tu.get_tensordict({}, non_tensor_dict={"metrics": {"actor/mfu": 0.0, "actor/pg_loss": [0.1, 0.3]}})


def make_trainer(cfg, dp=2):
    trainer = object.__new__(MetaAgentRayTrainer)  # skip worker set-up: only the step logic is exercised
    trainer.config = cfg
    trainer.metaagent = validate_run_config(cfg)
    trainer._mini_batch_rows = None
    trainer.global_steps = 1
    trainer.max_steps_duration = 0.0
    trainer.use_reference_policy = False
    trainer.async_rollout_manager = FakeRollout()
    trainer.checkpoint_manager = FakeCheckpointManager()
    trainer.actor_rollout_wg = FakeActorWG()
    trainer.data_parallel_size = lambda: dp

    def old_log_prob(batch):
        n, t = batch.batch["responses"].shape
        return DataProto.from_dict({"old_log_probs": -torch.ones(n, t), "entropys": torch.ones(n, t)}), 0.0

    trainer._compute_old_log_prob = old_log_prob
    return trainer


def batch_dict(n):
    p = fake_prompts(n)
    d = {k: v for k, v in p.batch.items()}
    d.update(p.non_tensor_batch)
    d.pop("uid")
    return d


@pytest.mark.parametrize("step,role,rows", [(1, "executor", 9), (31, "designer", 4)])
def test_train_step_filters_pads_and_sizes_minibatches(step, role, rows):
    cfg = compose_cfg("trainer.balance_batch=false", "actor_rollout_ref.rollout.calculate_log_probs=false")
    trainer = make_trainer(cfg, dp=2)
    trainer.global_steps = step
    metrics, timing = {}, {}
    out = trainer.train_step(batch_dict(2), metrics, timing, is_last_step=False)
    batch = out.batch
    roles = batch.non_tensor_batch["role"]
    assert set(roles) - {"pad"} == {role} and (roles != "pad").sum() == rows
    assert len(batch) % (out.plan.num_mini_batches * 2) == 0
    # the worker was asked for mini-batches of the actual padded row count, not ppo_mini_batch_size * n
    td = trainer.actor_rollout_wg.update_td
    assert tu.get_non_tensor_data(td, "mini_batch_size", None) == out.plan.rows_per_mini_batch
    assert tu.get_non_tensor_data(td, "global_batch_size", None) == out.plan.rows_per_mini_batch
    assert cfg.actor_rollout_ref.actor.ppo_mini_batch_size == 1  # restored after the call
    # the rollout got one row per problem with reward fields and the step number
    assert len(trainer.async_rollout_manager.seen) == 2
    assert trainer.async_rollout_manager.seen.meta_info["global_steps"] == step
    assert metrics["metaagent/phase/index"] == (step - 1) // 30
    assert metrics["metaagent/rollout/design_valid_rate"] == 0.75
    assert metrics[f"metaagent/train/rows_{role}"] == rows
    assert "metaagent/all/designer/adv_mean" in metrics and "metaagent/all/executor/adv_std" in metrics
    assert "actor/entropy" in metrics and "actor/pg_loss" in metrics
    assert trainer.checkpoint_manager.calls == ["sleep", ("update", step)]


def test_config_errors_name_key_and_fix():
    with pytest.raises(ConfigError, match=r"actor_rollout_ref.rollout.n .*Fix: set actor_rollout_ref.rollout.n=1"):
        validate_run_config(compose_cfg("actor_rollout_ref.rollout.n=4"))
    with pytest.raises(ConfigError, match=r"val_kwargs.n .*Fix"):
        validate_run_config(compose_cfg("actor_rollout_ref.rollout.val_kwargs.n=4"))
    with pytest.raises(ConfigError, match=r"data.train_batch_size .*divisible"):
        validate_run_config(compose_cfg("data.train_batch_size=6", "actor_rollout_ref.actor.ppo_mini_batch_size=4"))
    with pytest.raises(ConfigError, match=r"metaagent.phase.phase_length .*Fix"):
        validate_run_config(compose_cfg("metaagent.phase.phase_length=0"))
    with pytest.raises(ConfigError, match=r"metaagent.phase.mode"):
        validate_run_config(compose_cfg("metaagent.phase.mode=roundrobin"))
    with pytest.raises(ConfigError, match=r"algorithm.adv_estimator"):
        validate_run_config(compose_cfg("algorithm.adv_estimator=grpo"))
    with pytest.raises(ConfigError, match=r"loss_agg_mode"):
        validate_run_config(compose_cfg("actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean"))
    with pytest.raises(ConfigError, match=r"metaagent.rollout.num_designs"):
        validate_run_config(compose_cfg("metaagent.rollout.num_designs=0"))
    with pytest.raises(ConfigError, match=r"algorithm.use_kl_in_reward"):
        check_trainer_features(compose_cfg("algorithm.use_kl_in_reward=true"))


def test_yaml_defaults_equal_dataclass_defaults():
    import dataclasses

    from verl_metaagent.advantage.core import AdvantageConfig
    from verl_metaagent.phases import PhaseConfig
    from verl_metaagent.rollout.config import RolloutTreeConfig

    meta = validate_run_config(compose_cfg())
    assert meta.advantage == AdvantageConfig() and meta.phase == PhaseConfig()
    assert dataclasses.asdict(meta.rollout) == dataclasses.asdict(RolloutTreeConfig())


def test_registered_estimator():
    from verl.trainer.ppo import core_algos

    fn = core_algos.get_adv_estimator_fn("metaagent")
    rows = fake_rows(SPEC)
    with pytest.raises(RuntimeError, match="verl_metaagent.main"):
        fn(token_level_rewards=rows.batch["rm_scores"], response_mask=rows.batch["response_mask"],
           index=rows.non_tensor_batch["uid"])
    adv, ret = fn(
        token_level_rewards=rows.batch["rm_scores"],
        response_mask=rows.batch["response_mask"],
        config=compose_cfg().algorithm,
        non_tensor_batch=rows.non_tensor_batch,
    )
    assert adv.shape == rows.batch["responses"].shape and torch.equal(adv, ret)
    assert torch.all(adv[rows.batch["response_mask"] == 0] == 0)


class RecordingTracker:
    logs = []

    def __init__(self, **kwargs):
        RecordingTracker.logs = []

    def log(self, data, step):
        RecordingTracker.logs.append((step, dict(data)))


class FakePool:
    def get_n_gpus(self):
        return 1


def run_fit(monkeypatch, *overrides, dp, batches, total_steps, loaded_step=None):
    """Run ``trainer.fit()`` with fake workers and a recording tracker; returns the trainer."""
    import verl.utils.tracking

    monkeypatch.setattr(verl.utils.tracking, "Tracking", RecordingTracker)
    cfg = compose_cfg(
        "trainer.balance_batch=false", "trainer.val_before_train=false", "trainer.test_freq=0", "trainer.save_freq=-1",
        *overrides
    )
    trainer = make_trainer(cfg, dp=dp)
    trainer.train_dataloader = [batch_dict(2) for _ in range(batches)]
    trainer.total_training_steps = total_steps
    trainer.resource_pool_manager = FakePool()
    trainer._init_dump_executor()
    if loaded_step is not None:  # as if global_step_<loaded_step> was loaded
        trainer._load_checkpoint = lambda: setattr(trainer, "global_steps", loaded_step)
    trainer.fit()
    return trainer


def test_fit_runs_three_steps_with_fakes(monkeypatch):
    trainer = run_fit(
        monkeypatch, "trainer.resume_mode=disable", "trainer.total_epochs=1", "metaagent.phase.phase_length=2",
        dp=2, batches=3, total_steps=3,
    )
    steps = [s for s, _ in RecordingTracker.logs]
    assert steps == [1, 2, 3]
    trains = [(m["metaagent/phase/trains_executor"], m["metaagent/phase/trains_designer"])
              for _, m in RecordingTracker.logs]
    assert trains == [(1.0, 0.0), (1.0, 0.0), (0.0, 1.0)]
    last = RecordingTracker.logs[-1][1]
    assert last["metaagent/train/rows_designer"] == 4 and last["metaagent/train/rows_executor"] == 0
    # verl's data metrics are computed on trained rows without padding
    assert last["response_length/mean"] == pytest.approx(np.mean([s[5] for s in SPEC if s[1] == "designer"]))
    assert trainer.checkpoint_manager.calls[0] == ("update", 0)  # weights pushed before training


def test_fit_resumed_mid_phase_continues_in_same_phase(monkeypatch):
    run_fit(monkeypatch, "metaagent.phase.phase_length=3", dp=1, batches=10, total_steps=5, loaded_step=2)
    logged = [(s, m["metaagent/phase/index"], m["metaagent/phase/step_in_phase"], m["metaagent/phase/trains_executor"])
              for s, m in RecordingTracker.logs]
    # K=3, executor first: step 3 is the last executor step (index 0, position 2), steps 4-5 designer
    assert logged == [(3, 0.0, 2.0, 1.0), (4, 1.0, 0.0, 0.0), (5, 1.0, 1.0, 0.0)]
