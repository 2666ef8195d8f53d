"""The demo's Hydra overrides compose into a valid MetaAgent-X run config (no Ray, no training)."""

from pathlib import Path

import pytest

from verl_metaagent.demo import cli


def _overrides(resume: bool) -> list[str]:
    return cli.demo_overrides(
        Path("/m"), Path("/d/train.parquet"), Path("/o"), steps=24, batch_size=8, rows_per_mini_batch=128,
        num_designs=4, num_executions=2, phase_length=2, lr=1e-3, ppo_epochs=2, save_freq=8, seed=0, resume=resume,
    )


@pytest.mark.parametrize("resume,mode", [(False, "disable"), (True, "auto")])
def test_demo_overrides_compose_and_validate(resume, mode):
    from verl_metaagent.dry_run import compose_recipe, validate

    cfg, entry = compose_recipe(None, _overrides(resume))
    validate(cfg, entry, verl_checks=False)
    assert cfg.trainer.resume_mode == mode
    assert cfg.trainer.default_local_dir == "/o/checkpoints"
    assert (cfg.trainer.total_training_steps, cfg.trainer.save_freq) == (24, 8)
    assert cfg.algorithm.adv_estimator == "metaagent" and cfg.actor_rollout_ref.rollout.n == 1
    m = cfg.metaagent
    assert (m.rollout.num_designs, m.rollout.num_executions, m.phase.phase_length,
            m.phase.first_role) == (4, 2, 2, "executor")
    assert m.rollout.prompt_variant == "short" and m.rollout.budget.max_agent_calls == 6
    assert cfg.actor_rollout_ref.rollout.name == "cpu" and cfg.trainer.device == "cpu"
    assert (cfg.data.train_batch_size, cfg.metaagent.actor_update.rows_per_mini_batch,
            cfg.actor_rollout_ref.actor.ppo_epochs) == (8, 128, 2)


def test_latest_checkpoint_step(tmp_path):
    assert cli.latest_checkpoint_step(tmp_path) == 0
    for name in ("global_step_2", "global_step_10", "global_step_x", "other"):
        (tmp_path / name).mkdir()
    assert cli.latest_checkpoint_step(tmp_path) == 10


def test_resume_without_new_steps_is_a_no_op(tmp_path, capsys):
    """--resume when the latest checkpoint is already at --steps returns 0 without launching verl."""
    from verl_metaagent.demo import warmstart

    out = tmp_path / "o"
    (out / "checkpoints" / "global_step_4").mkdir(parents=True)
    cfg = warmstart.WarmStartConfig(steps=2, batch_size=4)
    warmstart.warm_start(out / "model", cfg, log=lambda s: None)
    assert cli.main(
        ["--out", str(out), "--steps", "4", "--resume", "--warmstart-steps", "2", "--warmstart-batch", "4"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert not (out / "launch_metrics.jsonl").exists()
