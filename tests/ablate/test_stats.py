"""Confidence intervals checked by their coverage on simulated data (not by re-deriving the formula)."""

from __future__ import annotations

import random

import pytest

from verl_metaagent.ablate.stats import mean_ci, paired_difference, t975, welch_difference


@pytest.mark.parametrize("n", [3, 5, 12])
def test_mean_ci_covers_the_true_mean_95_percent_of_the_time(n):
    rng = random.Random(n)
    trials, hits = 4000, 0
    for _ in range(trials):
        ci = mean_ci([rng.gauss(0.4, 0.1) for _ in range(n)])
        hits += ci["lo"] <= 0.4 <= ci["hi"]
    assert 0.935 <= hits / trials <= 0.965


def test_welch_interval_covers_the_true_difference_with_unequal_variances():
    rng = random.Random(7)
    trials, hits = 4000, 0
    for _ in range(trials):
        a = [rng.gauss(0.5, 0.02) for _ in range(3)]
        b = [rng.gauss(0.3, 0.15) for _ in range(5)]
        d = welch_difference(a, b)
        hits += d["lo"] <= 0.2 <= d["hi"]
    assert 0.935 <= hits / trials <= 0.975


def test_degenerate_inputs():
    assert mean_ci([]) == {"n": 0, "mean": None, "sd": None, "lo": None, "hi": None}
    one = mean_ci([0.25])
    assert (one["mean"], one["lo"], one["hi"]) == (0.25, 0.25, 0.25)
    assert mean_ci([None, 0.5, None])["mean"] == 0.5
    assert welch_difference([0.1], [0.2, 0.3]) is None
    same = welch_difference([0.5, 0.5], [0.2, 0.2])
    assert same["separated"] and same["diff"] == pytest.approx(0.3)
    assert t975(1) == pytest.approx(12.706) and t975(1000) == pytest.approx(1.96)


def test_separated_means_the_interval_excludes_zero():
    assert welch_difference([0.9, 0.91, 0.89], [0.1, 0.12, 0.11])["separated"]
    assert not welch_difference([0.5, 0.9, 0.1], [0.45, 0.2, 0.8])["separated"]


def test_paired_interval_covers_the_true_difference_under_a_seed_effect():
    """Each seed lifts both arms by the same large amount; the paired interval covers the true gap 95% of
    the time and, unlike Welch's, usually excludes 0."""
    rng = random.Random(11)
    trials, hits, paired_sep, welch_sep = 4000, 0, 0, 0
    for _ in range(trials):
        lift = {s: rng.gauss(0.0, 0.3) for s in range(4)}
        a = {s: lift[s] + 0.5 + rng.gauss(0, 0.05) for s in lift}
        b = {s: lift[s] + 0.3 + rng.gauss(0, 0.05) for s in lift}
        d = paired_difference(a, b)
        hits += d["lo"] <= 0.2 <= d["hi"]
        paired_sep += d["separated"]
        welch_sep += welch_difference(list(a.values()), list(b.values()))["separated"]
    assert 0.935 <= hits / trials <= 0.965
    assert paired_sep / trials > 0.9 and welch_sep / trials < 0.2


def test_paired_difference_uses_only_the_seeds_both_arms_have():
    d = paired_difference({0: 0.5, 1: 0.7, 2: 0.9, 5: 0.1}, {0: 0.4, 1: 0.6, 2: None, 3: 0.2})
    assert d["seeds"] == [0, 1] and d["diff"] == pytest.approx(0.1)
    assert d["lo"] == pytest.approx(0.1) and d["separated"]  # identical differences: no spread
    assert paired_difference({0: 0.5, 1: 0.6}, {1: 0.4}) is None
    same = paired_difference({0: 0.5, 1: 0.2}, {0: 0.5, 1: 0.2})
    assert same["diff"] == 0.0 and not same["separated"]
