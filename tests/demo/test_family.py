"""The ablation task family: regimes, warm-start data, and rewards through the real grader."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from verl_metaagent.demo import family
from verl_metaagent.demo.task import boxed

import reward_fns


def _value(text: str) -> int:
    return int(re.fullmatch(r"\\boxed\{(-?\d+)\}", text).group(1))


def _sample_reply(problem, rng):
    """An executor following family.SKILL, deciding from the messages alone (as a model must)."""

    def reply(messages):
        system, user = messages[0]["content"], messages[-1]["content"]
        if system == family.REST_PROMPT:
            shown = re.search(r"\\boxed\{(-?\d+)\}", user)
            previous = int(shown.group(1)) if shown else 0
            name, correct = family.rest_target(problem, previous)
            shared = None
        else:
            name, correct, shared = family.call_skill(system, problem)
        dist = family.value_distribution(family.SKILL[name], correct, shared)
        values, weights = zip(*dist.items())
        return boxed(rng.choices(values, weights)[0])

    return reply


@pytest.mark.parametrize("kind", family.KINDS)
@pytest.mark.parametrize("design", list(family.DESIGNS))
def test_expected_reward_matches_simulated_designs_graded_by_reward_fns(kind, design):
    """Monte Carlo: run the real design code, an executor sampled per SKILL, the real math grader."""
    rng = random.Random(f"{kind}-{design}")
    problems = family.kind_problems(kind)
    trials, total = 1500, 0.0
    for i in range(trials):
        problem = problems[i % len(problems)]
        _, answer = family.run_design(problem, design, _sample_reply(problem, rng))
        total += reward_fns.grade(problem.data_source, answer, str(problem.answer)).score
    expected = family.expected_design_reward(design, kind)
    assert abs(total / trials - expected) < 0.045, (kind, design, total / trials, expected)


def test_the_best_design_differs_between_kinds_by_a_margin():
    best = {k: family.best_design(k) for k in family.KINDS}
    assert best == {"easy": "vote", "hard": "vote", "multi": "decompose"}
    for kind in family.KINDS:
        rewards = sorted((family.expected_design_reward(d, kind) for d in family.DESIGNS), reverse=True)
        assert rewards[0] - rewards[1] >= 0.1, (kind, rewards)


def test_vote_cannot_fix_a_shared_error_but_fixes_scattered_ones():
    assert family.expected_design_reward("vote", "multi") < family.expected_design_reward("single", "multi")
    assert family.expected_design_reward("vote", "hard") > family.expected_design_reward("single", "hard")


def test_train_problems_are_a_seeded_subset_of_the_warm_start_pool():
    small, pool = family.train_problems(8, seed=3), family.train_problems(16, seed=3)
    assert set(small) <= set(pool)
    assert Counter(p.kind for p in small) == {k: 8 for k in family.KINDS}
    assert family.train_problems(8, seed=4) != small
    assert len({p.question for p in pool}) == len(pool)


def test_warmstart_targets_follow_the_skill_profile():
    problems = family.train_problems(4, seed=0)
    samples = family.warmstart_samples(problems, executor_per_problem=20, seed=0)
    designer = Counter(s.label for s in samples if s.role == "designer")
    assert set(designer) == set(family.DESIGNS) and len(set(designer.values())) == 1
    by_prompt: dict = {}
    for s in samples:
        if s.role != "executor":
            continue
        system, question = s.messages[0]["content"], s.messages[-1]["content"]
        kind = next(p.kind for p in problems if p.question in question)
        by_prompt.setdefault((system, kind), []).append(s.label == "correct")
    rate = {key: sum(v) / len(v) for key, v in by_prompt.items()}
    assert rate[(family.DIRECT_PROMPT, "easy")] == pytest.approx(family.SKILL["direct_easy"].p_correct, abs=0.03)
    assert rate[(family.DIRECT_PROMPT, "hard")] == pytest.approx(family.SKILL["direct_hard"].p_correct, abs=0.03)
    assert rate[(family.DIRECT_PROMPT, "multi")] == pytest.approx(family.SKILL["direct_multi"].p_correct, abs=0.03)
    assert rate[(family.REST_PROMPT, "multi")] == pytest.approx(family.SKILL["rest_add"].p_correct, abs=0.03)
    multi_direct = [s for s in samples if s.role == "executor" and s.messages[0]["content"] == family.DIRECT_PROMPT
                    and any(p.kind == "multi" and p.question in s.messages[-1]["content"] for p in problems)]
    forgot = sum(1 for s in multi_direct for p in problems
                 if p.question in s.messages[-1]["content"] and _value(s.response) == p.first_two)
    assert forgot / len(multi_direct) == pytest.approx(family.SKILL["direct_multi"].shared_error, abs=0.03)


def test_rest_targets_add_the_remaining_terms_to_the_shown_result():
    p3 = family.FamilyProblem((2, 3, 4), "multi")
    p2 = family.FamilyProblem((12, 30), "hard")
    assert family.rest_target(p3, 6) == ("rest_add", 10)
    assert family.rest_target(p2, 41) == ("rest_copy", 41)


def test_probes_cover_every_design_and_call_per_kind():
    probes = family.probes(family.train_problems(2, seed=0))
    for kind in family.KINDS:
        for design, text in family.DESIGNS.items():
            assert all(resp == text for _, resp in probes[f"p_design_{design}_{kind}"])
        for call in ("direct", "first", "rest"):
            assert len(probes[f"p_call_{call}_{kind}"]) == 2


def test_dataset_rows_carry_the_kind_as_data_source(tmp_path):
    import pandas as pd

    problems = family.train_problems(1, seed=0)
    family.write_dataset(tmp_path / "t.parquet", problems)
    df = pd.read_parquet(tmp_path / "t.parquet")
    assert list(df["data_source"]) == [f"math/family_{p.kind}" for p in problems]
    assert [r["ground_truth"] for r in df["reward_model"]] == [str(p.answer) for p in problems]
    for source in df["data_source"]:
        assert reward_fns.grade(source, "\\boxed{5}", "5").score == 1.0
