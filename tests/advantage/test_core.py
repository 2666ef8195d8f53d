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
