"""Confidence intervals checked by their coverage on simulated data (not by re-deriving the formula)."""

from __future__ import annotations

import random

import pytest

from verl_metaagent.ablate.stats import mean_ci, t975, welch_difference


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
