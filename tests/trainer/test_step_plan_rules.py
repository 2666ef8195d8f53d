"""step_plan's rules with exact values: the update config's messages, rowless executions in the advantage,
mixed passes, and every metric of a step."""

import math

import pytest

from verl_metaagent.advantage.core import AdvantageConfig
from verl_metaagent.phases import PhaseConfig
from verl_metaagent.trainer.step_plan import SampledRow, UpdateConfig, load_update_config, plan_step
from verl_metaagent.utils.config_utils import ConfigError


def row(key, role, duid="", euid="", reward=0.0, source="math/a", step=1, rowless=()):
    return SampledRow(key, role, "p" if role != "pad" else "", duid, euid, reward, source, step, tuple(rowless))


def plan(rows, step=1, mode="simultaneous", passes="separate", **adv):
    return plan_step(rows, global_step=step, adv_config=AdvantageConfig(norm_by_std=False, **adv),
                     phase_config=PhaseConfig(mode=mode, phase_length=2),
                     update_config=UpdateConfig(role_passes=passes))


ROWS = [
    row("p_0_0", "designer", "p/d0", reward=0.5, rowless=[("p/d0/e1", 0.0)]),
    row("p_0_1", "executor", "p/d0", "p/d0/e0", 1.0),
    row("p_1_0", "designer", "p/d1", reward=1.0, source="code/b"),
    row("p_1_1", "executor", "p/d1", "p/d1/e0", 1.0, source="code/b"),
    row("p_1_2", "executor", "p/d1", "p/d1/e1", 1.0, source="code/b"),
    row("pad_0", "pad", reward=9.0),
]


@pytest.mark.parametrize("cfg, message", [
    (UpdateConfig(rows_per_mini_batch=0), "metaagent.actor_update.rows_per_mini_batch must be an integer >= 1, "
     "got 0. Fix: set metaagent.actor_update.rows_per_mini_batch=16 (the release's optimizer-step size in rows)"),
    (UpdateConfig(rows_per_mini_batch=2.0), "metaagent.actor_update.rows_per_mini_batch must be an integer >= 1, "
     "got 2.0. Fix: set metaagent.actor_update.rows_per_mini_batch=16 (the release's optimizer-step size in rows)"),
    (UpdateConfig(role_passes="both"), "metaagent.actor_update.role_passes must be one of separate, mixed, "
     "got 'both'. Fix: set metaagent.actor_update.role_passes=separate"),
])
def test_update_config_messages(cfg, message):
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    assert str(err.value) == message


def test_update_config_smallest_values_and_loader():
    assert UpdateConfig(rows_per_mini_batch=1).validate().rows_per_mini_batch == 1
    assert load_update_config(None) == UpdateConfig()
    assert load_update_config({"role_passes": "mixed"}).role_passes == "mixed"
    with pytest.raises(ConfigError, match=r"^metaagent\.actor_update\.role_passes="):
        load_update_config({"role_passes": "both"})
    with pytest.raises(ConfigError, match=r"^a\.b\.rows_per_mini_batch must"):
        load_update_config({"rows_per_mini_batch": 0}, path="a.b")


def test_rowless_executions_of_designer_rows_join_their_group():
    p = plan(ROWS)
    # executions of p: e0=1, e1=0 (rowless), d1's two = 1 -> mean 0.75
    assert p.advantages["p_0_1"] == pytest.approx(0.25) and p.advantages["p_1_1"] == pytest.approx(0.25)
    assert p.advantages["p_0_0"] == pytest.approx(-0.25) and p.advantages["pad_0"] == 0.0
    assert p.phase.mode == "simultaneous"


def test_mixed_passes_hold_only_the_trained_roles():
    p = plan(ROWS, mode="executor_only", passes="mixed")
    assert [(u.roles, u.keys) for u in p.passes] == [(("executor",), ("p_0_1", "p_1_1", "p_1_2"))]
    both = plan(ROWS, passes="mixed")
    assert [(u.roles, len(u.keys)) for u in both.passes] == [(("designer", "executor"), 5)]
    none = plan([r for r in ROWS if r.role != "executor"], mode="executor_only", passes="mixed")
    assert none.passes == [] and none.metrics["metaagent/train/skipped_empty_phase"] == 1.0


def test_step_metrics_values():
    m = plan(ROWS, mode="executor_only").metrics
    assert m["metaagent/train/update_passes"] == 1.0 and m["metaagent/train/skipped_empty_phase"] == 0.0
    assert (m["metaagent/adv/groups"], m["metaagent/adv/singleton_groups"], m["metaagent/adv/flat_groups"]) == (
        2.0, 0.0, 0.0)
    assert m["metaagent/all/rows_designer"] == 2.0 and m["metaagent/all/rows_executor"] == 3.0
    assert m["metaagent/train/rows_designer"] == 0.0 and m["metaagent/train/rows_executor"] == 3.0
    assert m["metaagent/all/designer/adv_mean"] == pytest.approx(0.0)
    assert m["metaagent/all/designer/adv_std"] == pytest.approx(0.25)
    assert m["metaagent/all/executor/adv_mean"] == pytest.approx(0.25)
    assert m["metaagent/all/executor/adv_std"] == pytest.approx(0.0)
    assert m["metaagent/all/designer/reward_mean"] == 0.75 and m["metaagent/all/executor/reward_mean"] == 1.0
    assert m["metaagent/reward/designer/mean"] == 0.75 and m["metaagent/reward/executor/code/b/mean"] == 1.0
    assert m["metaagent/reward/designer/math/a/mean"] == 0.5 and "metaagent/reward/pad/mean" not in m
    uneven = plan([row("a", "designer", "p/d0", reward=0.0), row("b", "designer", "p/d1", reward=1.0),
                   row("c", "designer", "p/d2", reward=1.0), row("d", "designer", "p/d3", reward=1.0)]).metrics
    assert uneven["metaagent/all/designer/adv_std"] == pytest.approx(math.sqrt(3) / 4)  # advantages -3/4, 1/4 x 3


def test_pad_rows_first_do_not_hide_the_reward_metrics():
    m = plan([row("pad_0", "pad"), row("a", "designer", "p/d0", reward=1.0)]).metrics
    assert m["metaagent/reward/designer/mean"] == 1.0


def test_an_empty_step():
    p = plan([])
    assert p.advantages == {} and p.passes == [] and p.untrained_keys == []
    assert "metaagent/adv/groups" not in p.metrics and p.metrics["metaagent/all/rows_designer"] == 0.0
    assert "metaagent/all/designer/adv_mean" not in p.metrics and p.phase.step_in_phase == 0
