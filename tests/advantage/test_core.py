"""Hierarchical advantages against hand-computed values on a small tree."""

import math

import numpy as np
import pytest

from verl_metaagent.advantage.core import AdvantageConfig, compute_advantages
from verl_metaagent.utils.config_utils import ConfigError


def small_tree(format_reward=0.0):
    """Problem p: d0 valid (e0 r=1 with 1 call, e1 r=0 with 3 calls), d1 invalid (format reward),
    d2 valid (e0 r=1 with 1 call, e1 r=1 with 2 calls). Problem q: one design, one execution (singletons).
    Two pad rows at the end."""
    rows = [
        # role, uid, design_uid, exec_uid, reward
        ("designer", "p", "p/d0", "", 0.5),
        ("executor", "p", "p/d0", "p/d0/e0", 1.0),
        ("executor", "p", "p/d0", "p/d0/e1", 0.0),
        ("executor", "p", "p/d0", "p/d0/e1", 0.0),
        ("executor", "p", "p/d0", "p/d0/e1", 0.0),
        ("designer", "p", "p/d1", "", format_reward),
        ("designer", "p", "p/d2", "", 1.0),
        ("executor", "p", "p/d2", "p/d2/e0", 1.0),
        ("executor", "p", "p/d2", "p/d2/e1", 1.0),
        ("executor", "p", "p/d2", "p/d2/e1", 1.0),
        ("designer", "q", "q/d0", "", 1.0),
        ("executor", "q", "q/d0", "q/d0/e0", 1.0),
        ("pad", "", "", "", 7.0),
        ("pad", "", "", "", -3.0),
    ]
    return [list(col) for col in zip(*rows)]


def run(tree, **kw):
    adv, stats = compute_advantages(*tree, cfg=AdvantageConfig(**kw))
    assert not np.any(np.isnan(adv))
    return adv, stats


D0, D0E0, D0E1, D1, D2, D2E0, D2E1, QD, QE, PAD = 0, 1, slice(2, 5), 5, 6, 7, slice(8, 10), 10, 11, slice(12, 14)


def test_hierarchical_problem_per_execution_with_std():
    adv, stats = run(small_tree(format_reward=0.0))
    eps = 1e-6
    # designers of p: [0.5, 0.0, 1.0], mean 0.5, sample std 0.5
    assert adv[D0] == pytest.approx(0.0)
    assert adv[D1] == pytest.approx(-0.5 / (0.5 + eps))
    assert adv[D2] == pytest.approx(0.5 / (0.5 + eps))
    # executions of p: [1, 0, 1, 1] (one value each), mean 0.75, sample std 0.5
    assert adv[D0E0] == pytest.approx(0.25 / (0.5 + eps))
    assert np.allclose(adv[D0E1], -0.75 / (0.5 + eps))
    assert adv[D2E0] == pytest.approx(0.25 / (0.5 + eps))
    assert np.allclose(adv[D2E1], 0.25 / (0.5 + eps))
    # q: one design / one execution -> singleton groups -> 0; pads -> 0
    assert adv[QD] == 0.0 and adv[QE] == 0.0
    assert np.all(adv[PAD] == 0.0)
    assert stats["singleton_groups"] == 2.0
    assert stats["designer/rows"] == 4 and stats["executor/rows"] == 8 and stats["pad/rows"] == 2


def test_invalid_design_format_reward_counts_in_group():
    adv, _ = run(small_tree(format_reward=0.25), norm_by_std=False)
    mean = (0.5 + 0.25 + 1.0) / 3
    assert adv[D0] == pytest.approx(0.5 - mean)
    assert adv[D1] == pytest.approx(0.25 - mean)
    assert adv[D2] == pytest.approx(1.0 - mean)


def test_per_sample_differs_from_per_execution_on_uneven_tree():
    per_exec, _ = run(small_tree(), norm_by_std=False, executor_stats="per_execution")
    per_sample, _ = run(small_tree(), norm_by_std=False, executor_stats="per_sample")
    # per_execution: mean over executions [1,0,1,1] = 0.75
    assert per_exec[D0E0] == pytest.approx(0.25)
    assert np.allclose(per_exec[D0E1], -0.75)
    # per_sample (public release): mean over 7 executor rows [1,0,0,0,1,1,1] = 4/7
    assert per_sample[D0E0] == pytest.approx(3 / 7)
    assert np.allclose(per_sample[D0E1], -4 / 7)
    assert np.allclose(per_sample[D2E1], 3 / 7)
    # designer rows are unaffected by executor_stats
    assert per_exec[D0] == per_sample[D0]


def test_per_sample_with_std_matches_numpy_over_rows():
    adv, _ = run(small_tree(), executor_stats="per_sample")
    rows = np.array([1, 0, 0, 0, 1, 1, 1], dtype=float)
    std = math.sqrt(((rows - 4 / 7) ** 2).sum() / 6)
    assert adv[D0E0] == pytest.approx((1 - 4 / 7) / (std + 1e-6))


def test_executor_group_design():
    adv, stats = run(small_tree(), norm_by_std=False, executor_group="design")
    # d0 executions [1, 0]: +0.5 / -0.5 ; d2 executions [1, 1]: all equal -> 0
    assert adv[D0E0] == pytest.approx(0.5)
    assert np.allclose(adv[D0E1], -0.5)
    assert adv[D2E0] == 0.0 and np.all(adv[D2E1] == 0.0)
    assert stats["flat_groups"] >= 1
    adv_s, _ = run(small_tree(), norm_by_std=False, executor_group="design", executor_stats="per_sample")
    # d0 rows [1, 0, 0, 0]: mean 0.25
    assert adv_s[D0E0] == pytest.approx(0.75)
    assert np.allclose(adv_s[D0E1], -0.25)
    # with std: d2 group all equal stays exactly 0 (no NaN)
    adv_std, _ = run(small_tree(), executor_group="design")
    assert adv_std[D2E0] == 0.0


def test_flat_grpo_per_sample_is_grpo_over_all_rows_of_the_problem():
    adv, _ = run(small_tree(), mode="flat_grpo", executor_stats="per_sample", norm_by_std=False)
    mean = (0.5 + 0.0 + 1.0 + 1 + 0 + 0 + 0 + 1 + 1 + 1) / 10
    assert adv[D0] == pytest.approx(0.5 - mean)
    assert adv[D1] == pytest.approx(0.0 - mean)
    assert adv[D0E0] == pytest.approx(1 - mean)
    assert np.allclose(adv[D0E1], 0 - mean)
    assert adv[QD] == pytest.approx(0.0) and adv[QE] == pytest.approx(0.0)  # q: [1, 1] all equal
    assert np.all(adv[PAD] == 0.0)


def test_flat_grpo_per_execution_units():
    adv, _ = run(small_tree(), mode="flat_grpo", executor_stats="per_execution", norm_by_std=False)
    mean = (0.5 + 0.0 + 1.0 + 1 + 0 + 1 + 1) / 7  # 3 designs + 4 executions
    assert adv[D2] == pytest.approx(1.0 - mean)
    assert np.allclose(adv[D0E1], 0 - mean)


def test_all_equal_and_single_row_batches():
    adv, _ = compute_advantages(["designer"], ["u"], ["u/d0"], [""], [1.0])
    assert adv.tolist() == [0.0]
    adv, _ = compute_advantages(["executor"] * 3, ["u"] * 3, ["u/d0"] * 3, ["u/d0/e0", "u/d0/e1", "u/d0/e2"], [0.0] * 3)
    assert adv.tolist() == [0.0, 0.0, 0.0]
    adv, _ = compute_advantages(["pad", "pad"], ["", ""], ["", ""], ["", ""], [0.0, 0.0])
    assert adv.tolist() == [0.0, 0.0]


def test_ddof0_population_std():
    adv, _ = run(small_tree(), std_ddof=0)
    # executions [1,0,1,1]: population std sqrt(0.1875) ~ 0.4330
    assert adv[D0E0] == pytest.approx(0.25 / (math.sqrt(0.1875) + 1e-6))


def test_errors():
    with pytest.raises(ValueError, match="unknown role"):
        compute_advantages(["critic"], ["u"], ["d"], [""], [1.0])
    with pytest.raises(ValueError, match="exec_uid"):
        compute_advantages(["executor"], ["u"], ["d"], [""], [1.0])
    with pytest.raises(ValueError, match="finite"):
        compute_advantages(["designer"], ["u"], ["d"], [""], [float("nan")])
    with pytest.raises(ConfigError, match="metaagent.advantage.mode"):
        AdvantageConfig(mode="nope").validate()
    with pytest.raises(ConfigError, match="executor_group"):
        AdvantageConfig(executor_group="question").validate()


def test_an_executions_value_is_the_mean_of_its_rows():
    """A unit's value is the mean reward of its rows (never the max, min or first)."""
    adv, _ = compute_advantages(
        ["executor"] * 3, ["u"] * 3, ["u/d0"] * 3, ["u/d0/e0", "u/d0/e0", "u/d0/e1"], [0.0, 1.0, 0.25],
        AdvantageConfig(norm_by_std=False),
    )
    # units: e0 = mean(0, 1) = 0.5, e1 = 0.25; group mean 0.375
    assert adv.tolist() == pytest.approx([0.125, 0.125, -0.125])


def test_epsilon_zero_is_refused_with_std_normalisation_only():
    with pytest.raises(ConfigError):
        AdvantageConfig(epsilon=0.0, norm_by_std=True).validate()
    assert AdvantageConfig(epsilon=0.0, norm_by_std=False).validate().epsilon == 0.0
    adv, _ = compute_advantages(["designer"] * 2, ["u"] * 2, ["u/d0", "u/d1"], ["", ""], [0.0, 1.0],
                                AdvantageConfig(epsilon=0.0, norm_by_std=False))
    assert adv.tolist() == [-0.5, 0.5]
    assert AdvantageConfig().validate().epsilon == 1e-6 and AdvantageConfig().std_ddof == 1


def test_epsilon_is_added_to_the_std():
    adv, _ = compute_advantages(["designer"] * 2, ["u"] * 2, ["u/d0", "u/d1"], ["", ""], [0.0, 1.0],
                                AdvantageConfig(epsilon=0.5))
    std = math.sqrt(0.5)  # sample std of [0, 1]
    assert adv.tolist() == pytest.approx([-0.5 / (std + 0.5), 0.5 / (std + 0.5)])


@pytest.mark.parametrize(
    "cfg, message",
    [
        (AdvantageConfig(executor_group="question"), "metaagent.advantage.executor_group must be 'problem' or "
         "'design', got 'question'. Fix: set metaagent.advantage.executor_group=problem"),
        (AdvantageConfig(executor_stats="x"), "metaagent.advantage.executor_stats must be 'per_execution' or "
         "'per_sample', got 'x'. Fix: set metaagent.advantage.executor_stats=per_execution"),
        (AdvantageConfig(mode="m"), "metaagent.advantage.mode must be 'hierarchical' or 'flat_grpo', got 'm'. "
         "Fix: set metaagent.advantage.mode=hierarchical"),
        (AdvantageConfig(epsilon=-1.0, norm_by_std=False), "metaagent.advantage.epsilon must be >= 0, got -1.0. "
         "Fix: set metaagent.advantage.epsilon=1e-6"),
        (AdvantageConfig(epsilon=0.0), "metaagent.advantage.epsilon must be > 0 when norm_by_std is true (a group "
         "with std 0 would divide by zero). Fix: set metaagent.advantage.epsilon=1e-6"),
        (AdvantageConfig(std_ddof=2), "metaagent.advantage.std_ddof must be 0 or 1, got 2. "
         "Fix: set metaagent.advantage.std_ddof=1"),
    ],
)
def test_config_errors_name_the_key_the_problem_and_the_fix(cfg, message):
    with pytest.raises(ConfigError) as err:
        cfg.validate()
    assert str(err.value) == message
    with pytest.raises(ConfigError) as err:
        cfg.validate("algorithm.metaagent_advantage")
    assert str(err.value) == message.replace("metaagent.advantage", "algorithm.metaagent_advantage")


def test_load_advantage_config():
    from verl_metaagent.advantage.core import load_advantage_config

    assert load_advantage_config(None) == AdvantageConfig()
    cfg = load_advantage_config({"executor_group": "design", "epsilon": "0.5"})
    assert (cfg.executor_group, cfg.epsilon) == ("design", 0.5)
    with pytest.raises(ConfigError, match=r"^x\.y\.mode="):
        load_advantage_config({"mode": "m"}, path="x.y")
    with pytest.raises(ConfigError, match=r"x\.y\.nope"):
        load_advantage_config({"nope": 1}, path="x.y")


def test_rowless_executions_count_in_their_group_with_per_execution_stats():
    """An execution without rows (crashed before its first call) is one unit of its group's statistics."""
    rows = (["executor"] * 2, ["u"] * 2, ["u/d0", "u/d1"], ["u/d0/e0", "u/d1/e0"], [1.0, 0.0])
    rowless = [("u", "u/d0", "u/d0/e1", 0.0), ("u", "u/d1", "u/d1/e1", 1.0)]
    cfg = dict(norm_by_std=False)
    adv, _ = compute_advantages(*rows, AdvantageConfig(**cfg), rowless_executions=rowless)
    assert adv.tolist() == [0.5, -0.5]  # problem group [1, 0, 0, 1]: mean 0.5
    adv, _ = compute_advantages(*rows, AdvantageConfig(executor_group="design", **cfg), rowless_executions=rowless)
    assert adv.tolist() == [0.5, -0.5]  # design groups d0 [1, 0], d1 [0, 1]
    lopsided = [("u", "u/d0", "u/d0/e1", 0.0), ("u", "u/d0", "u/d0/e2", 0.0)]
    adv, stats = compute_advantages(*rows, AdvantageConfig(executor_group="design", **cfg),
                                    rowless_executions=lopsided)
    assert adv.tolist() == pytest.approx([2 / 3, 0.0])  # d0 [1, 0, 0]; d1 is a singleton
    assert stats["singleton_groups"] == 1.0 and stats["groups"] == 2.0
    adv, _ = compute_advantages(*rows, AdvantageConfig(executor_stats="per_sample", **cfg), rowless_executions=rowless)
    assert adv.tolist() == [0.5, -0.5]  # per_sample: no rows, no samples: the group is [1, 0]
    adv, _ = compute_advantages(*rows, AdvantageConfig(executor_stats="per_sample", **cfg),
                                rowless_executions=lopsided)
    assert adv.tolist() == [0.5, -0.5]
    adv, _ = compute_advantages(*rows, AdvantageConfig(mode="flat_grpo", **cfg), rowless_executions=lopsided)
    assert adv.tolist() == pytest.approx([0.75, -0.25])  # one problem group [1, 0, 0, 0]
    # a rowless unit never replaces a unit that has rows
    adv, _ = compute_advantages(*rows, AdvantageConfig(**cfg), rowless_executions=[("u", "u/d0", "u/d0/e0", 0.0)])
    assert adv.tolist() == [0.5, -0.5]
    with pytest.raises(ValueError, match="u/d0/e1"):
        compute_advantages(*rows, AdvantageConfig(**cfg), rowless_executions=[("u", "u/d0", "u/d0/e1", float("inf"))])


def test_stats_report_groups_and_per_role_means():
    adv, stats = run(small_tree(format_reward=0.0), norm_by_std=False)
    # designer groups: p, q; executor groups: p, q (q's are singletons)
    assert (stats["groups"], stats["singleton_groups"], stats["flat_groups"]) == (4.0, 2.0, 0.0)
    designer = [D0, D1, D2, QD]
    assert stats["designer/adv_mean"] == pytest.approx(np.mean(adv[designer]))
    assert stats["designer/adv_std"] == pytest.approx(np.std(adv[designer]))
    assert stats["designer/reward_mean"] == pytest.approx((0.5 + 0.0 + 1.0 + 1.0) / 4)
    assert stats["executor/reward_mean"] == pytest.approx(5 / 8)  # rows [1, 0, 0, 0, 1, 1, 1, 1]
    assert stats["pad/rows"] == 2.0 and "pad/adv_mean" not in stats and "pad/reward_mean" not in stats
    _, stats = compute_advantages(["designer"] * 2, ["u"] * 2, ["u/d0", "u/d1"], ["", ""], [1.0, 1.0])
    assert (stats["flat_groups"], stats["executor/rows"]) == (1.0, 0.0) and "executor/adv_mean" not in stats


def test_rows_of_other_problems_and_pads_never_join_a_group():
    roles = ["designer", "designer", "designer", "designer", "pad"]
    uids = ["a", "a", "b", "b", ""]
    designs = ["a/d0", "a/d1", "b/d0", "b/d1", ""]
    adv, _ = compute_advantages(roles, uids, designs, [""] * 5, [0.0, 1.0, 10.0, 30.0, 99.0],
                                AdvantageConfig(norm_by_std=False))
    assert adv.tolist() == [-0.5, 0.5, -10.0, 10.0, 0.0]


def test_inputs_are_checked():
    with pytest.raises(ValueError, match=r"uid must have shape \(2,\)"):
        compute_advantages(["designer"] * 2, ["u"], ["u/d0", "u/d1"], ["", ""], [0.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        compute_advantages(["executor"], ["u"], ["u/d0"], ["u/d0/e0"], [float("inf")])
    adv, _ = compute_advantages(["pad", "designer"], [None, "u"], [None, "u/d0"], [None, ""], [float("nan"), 1.0])
    assert adv.tolist() == [0.0, 0.0]  # a pad row's reward is never read
    adv, _ = compute_advantages(("designer", "designer"), ("u", "u"), ("u/d0", "u/d1"), ("", ""), (0, 1),
                                AdvantageConfig(norm_by_std=False))
    assert adv.dtype == np.float64 and adv.tolist() == [-0.5, 0.5]


def test_load_advantage_config_paths():
    from verl_metaagent.advantage.core import load_advantage_config

    with pytest.raises(ConfigError, match=r"^metaagent\.advantage\.mode="):
        load_advantage_config({"mode": "m"})
    with pytest.raises(ConfigError, match=r"^x\.y\.epsilon must be >= 0"):
        load_advantage_config({"epsilon": -1.0, "norm_by_std": False}, path="x.y")


@pytest.mark.parametrize("name", ["role", "design_uid", "exec_uid"])
def test_a_misshapen_id_column_is_named(name):
    cols = {"role": ["designer"] * 2, "uid": ["u"] * 2, "design_uid": ["u/d0", "u/d1"], "exec_uid": ["", ""]}
    cols[name] = cols[name][:1]
    with pytest.raises(ValueError) as err:
        compute_advantages(cols["role"], cols["uid"], cols["design_uid"], cols["exec_uid"], [0.0, 1.0])
    assert str(err.value) == f"{name} must have shape (2,), got (1,)"


def test_error_messages_in_full():
    with pytest.raises(ValueError) as err:
        compute_advantages(["executor"], ["u"], ["u/d0"], [None], [1.0])  # None is no exec_uid
    assert str(err.value) == "executor rows need a non-empty exec_uid"
    with pytest.raises(ValueError) as err:
        compute_advantages(["designer"], ["u"], ["u/d0"], [""], [float("nan")])
    assert str(err.value) == "rewards of non-pad rows must be finite (got NaN/inf)"


def test_rewards_may_come_as_an_object_array():
    """verl's non_tensor_batch columns are object arrays; their floats are read as float64."""
    reward = np.array([0.0, 1.0], dtype=object)
    adv, _ = compute_advantages(["designer"] * 2, ["u"] * 2, ["u/d0", "u/d1"], ["", ""], reward,
                                AdvantageConfig(norm_by_std=False))
    assert adv.tolist() == [-0.5, 0.5]


def test_flat_groups_are_counted_each():
    _, stats = compute_advantages(["designer"] * 4, ["a", "a", "b", "b"], ["a/d0", "a/d1", "b/d0", "b/d1"], [""] * 4,
                                  [1.0, 1.0, 0.0, 0.0])
    assert (stats["groups"], stats["flat_groups"]) == (2.0, 2.0)
