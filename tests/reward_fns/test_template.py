"""How to test a contributed reward function (copy alongside your module)."""

import pytest

import reward_fns
import reward_fns.template  # noqa: F401  - importing registers "example/exact_match"


@pytest.mark.parametrize(
    "answer,gold,score",
    [("Paris", "paris", 1.0), ("  Paris. ", "Paris", 1.0), ("Lyon", "Paris", 0.0), ("b", ["a", "B"], 1.0)],
)
def test_exact_match_example(answer, gold, score):
    assert reward_fns.grade("example/exact_match", answer, gold).score == score


def test_alias_and_verl_entry():
    out = reward_fns.compute_score("exact_match_example", "Paris", "paris", {})
    assert out == {"score": 1.0, "acc": True, "pred": "paris", "reason": "", "pass_rate": 1.0}


async def test_async_entry():
    res = await reward_fns.grade_async("example/exact_match", "x", "y")
    assert res.score == 0.0 and not res.correct
