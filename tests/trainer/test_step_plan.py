"""The v1 trainer's per-step decisions (pure): advantages before filtering, phase filter, update passes."""

import math

import pytest

from verl_metaagent.advantage.core import AdvantageConfig
from verl_metaagent.phases import PhaseConfig
from verl_metaagent.trainer.step_plan import SampledRow, UpdateConfig, mini_batches_for, plan_step
from verl_metaagent.utils.config_utils import ConfigError


def tree_rows(uid="p", design_rewards=((1.0, 0.0), (1.0, 1.0)), calls=2, step=1, source="math/demo"):
    """One problem: a designer row per design (reward = mean of its executions) and `calls` executor rows
    per execution (each carrying its execution's reward). Keys follow the TQ layout ``{uid}_{j}_{i}``."""
    rows = []
    for j, execs in enumerate(design_rewards):
        duid = f"{uid}/d{j}"
        rows.append(SampledRow(f"{uid}_{j}_0", "designer", uid, duid, "", sum(execs) / len(execs), source, step))
        i = 1
        for k, r in enumerate(execs):
            for _ in range(calls):
                rows.append(SampledRow(f"{uid}_{j}_{i}", "executor", uid, duid, f"{duid}/e{k}", r, source, step))
                i += 1
    return rows


def plan(rows, step, mode="alternate", k=2, passes="separate", **adv):
    return plan_step(
        rows,
        global_step=step,
        adv_config=AdvantageConfig(**adv),
        phase_config=PhaseConfig(mode=mode, phase_length=k),
        update_config=UpdateConfig(role_passes=passes),
    )


def test_advantages_are_computed_over_all_rows_before_the_phase_filter():
    rows = tree_rows()
    p = plan(rows, step=1)  # executor phase: designer rows are not trained but their advantages exist
    # designers: rewards 0.5 and 1.0 -> mean 0.75, sample std sqrt(0.125)
    std = math.sqrt(((0.5 - 0.75) ** 2 + (1.0 - 0.75) ** 2) / 1)
    assert p.advantages["p_0_0"] == pytest.approx((0.5 - 0.75) / (std + 1e-6))
    assert p.advantages["p_1_0"] == pytest.approx((1.0 - 0.75) / (std + 1e-6))
    # executors, problem group, one value per execution: {1, 0, 1, 1} -> mean .75, std .5
    assert p.advantages["p_0_1"] == pytest.approx((1 - 0.75) / (0.5 + 1e-6))
    assert p.advantages["p_0_3"] == pytest.approx((0 - 0.75) / (0.5 + 1e-6))
    assert [u.roles for u in p.passes] == [("executor",)]
    assert set(p.passes[0].keys) == {r.key for r in rows if r.role == "executor"}
    assert set(p.untrained_keys) == {"p_0_0", "p_1_0"}


@pytest.mark.parametrize("step,role",
                         [(1, "executor"), (2, "executor"), (3, "designer"), (4, "designer"), (5, "executor")])
def test_alternating_phase_trains_one_role(step, role):
    p = plan(tree_rows(step=step), step=step)
    assert [u.roles for u in p.passes] == [(role,)]
    assert p.metrics[f"metaagent/phase/trains_{role}"] == 1.0


def test_simultaneous_separate_passes_one_per_role_mixed_one_pass():
    rows = tree_rows()
    sep = plan(rows, step=1, mode="simultaneous")
    assert [u.roles for u in sep.passes] == [("designer",), ("executor",)]
    assert sep.untrained_keys == []
    mixed = plan(rows, step=1, mode="simultaneous", passes="mixed")
    assert [u.roles for u in mixed.passes] == [("designer", "executor")]
    assert list(mixed.passes[0].keys) == [r.key for r in rows]  # sampling order kept


def test_rows_generated_in_another_phase_are_not_trained():
    # async rollout: rows dispatched for step 2 (executor phase, K=2) but trained at step 3 (designer phase)
    rows = tree_rows(step=2)
    p = plan(rows, step=3)
    assert p.passes == []
    assert p.metrics["metaagent/train/skipped_empty_phase"] == 1.0
    assert len(p.untrained_keys) == len(rows)


def test_pad_rows_never_join_a_group_or_a_pass():
    rows = tree_rows() + [SampledRow("padx_0_0", "pad", "", "", "", 123.0)]
    with_pad = plan(rows, step=1)
    without = plan(rows[:-1], step=1)
    assert with_pad.advantages["padx_0_0"] == 0.0
    for key, value in without.advantages.items():
        assert with_pad.advantages[key] == value
    assert "padx_0_0" not in {k for u in with_pad.passes for k in u.keys}


def test_reward_metrics_by_role_and_data_source():
    rows = tree_rows(uid="a", source="math/x") + tree_rows(uid="b", design_rewards=((0.0, 0.0),), source="code/y")
    m = plan(rows, step=1).metrics
    assert m["metaagent/reward/designer/math/x/mean"] == pytest.approx(0.75)
    assert m["metaagent/reward/designer/code/y/mean"] == 0.0
    assert m["metaagent/reward/executor/code/y/mean"] == 0.0
    assert m["metaagent/all/rows_designer"] == 3.0


@pytest.mark.parametrize("rows,expected", [(1, 1), (16, 1), (17, 2), (32, 2), (200, 13), (400, 25)])
def test_optimizer_steps_grow_with_rows(rows, expected):
    assert mini_batches_for(rows, UpdateConfig()) == expected


def test_update_config_errors_name_the_key():
    with pytest.raises(ConfigError, match="metaagent.actor_update.rows_per_mini_batch"):
        UpdateConfig(rows_per_mini_batch=0).validate()
    with pytest.raises(ConfigError, match="metaagent.actor_update.role_passes"):
        UpdateConfig(role_passes="both").validate()
