"""The demo's task and warm-start data: valid designs, gradable answers, exact prompts, the noise mix."""

import asyncio
from collections import Counter

import pytest

import reward_fns
from verl_metaagent.demo import report
from verl_metaagent.demo import task as T
from verl_metaagent.design import (AgentCallReply, DesignLimits, DesignTask, classify_design, execute_design,
                                   parse_design, validate_design)
from verl_metaagent.design.prompts import build_designer_messages


def test_all_problems_are_the_81_single_digit_sums():
    problems = T.all_problems()
    assert len(problems) == 81 and len(set(problems)) == 81
    assert problems[0].question == "What is 1 + 1?" and problems[0].answer == 2
    assert {p.answer for p in problems} == set(range(2, 19))


def test_train_problems_are_seeded_and_distinct():
    a, b = T.train_problems(12, seed=3), T.train_problems(12, seed=3)
    assert a == b and len(set(a)) == 12
    assert T.train_problems(12, seed=4) != a
    assert len(T.train_problems(500)) == 81


@pytest.mark.parametrize("name", sorted(T.DESIGNS))
def test_designer_targets_parse_validate_and_classify(name):
    parsed = parse_design(T.DESIGNS[name])
    assert parsed.error is None and parsed.code == T.DESIGNS[name]
    assert validate_design(parsed.code) == []
    assert classify_design(parsed.code) == T.DESIGN_PATTERNS[name]


def test_designer_prompt_is_the_rollouts_short_prompt():
    p = T.Problem(3, 5)
    assert T.designer_messages(p) == build_designer_messages({"question": "What is 3 + 5?", "task_type": "math"},
                                                             "short")
    assert T.designer_messages(p) == [
        {"role": "user", "content": "Design Multi Agent System for the Question: What is 3 + 5?"}]


def test_executor_prompt_is_what_the_design_api_sends():
    assert T.executor_messages(T.Problem(3, 5)) == [
        {"role": "system", "content": "Add the numbers."},
        {"role": "user", "content": "Question:\nWhat is 3 + 5?"},
    ]


def test_warmstart_samples_mix_and_grades():
    problems = T.all_problems()[:6]
    samples = T.warmstart_samples(problems, designer_per_problem=4, executor_per_problem=10, p_correct=0.4, seed=1)
    designer = [s for s in samples if s.role == "designer"]
    executor = [s for s in samples if s.role == "executor"]
    assert len(designer) == 24 and len(executor) == 60
    # each design is the target equally often
    assert Counter(s.label for s in designer) == {"single": 12, "vote": 12}
    for s in designer:
        assert s.response == T.DESIGNS[s.label]
        assert s.messages == T.designer_messages(T.Problem(*_ab(s.messages[0]["content"])))
        assert validate_design(parse_design(s.response).code) == []
    # executor: exactly 4 of 10 targets correct per problem, the rest off by 1..3, graded by reward_fns
    by_question = {}
    for s in executor:
        q = s.messages[1]["content"].split("\n", 1)[1]
        by_question.setdefault(q, []).append(s)
    assert len(by_question) == 6
    for q, items in by_question.items():
        a, b = _ab(q)
        assert Counter(s.label for s in items) == {"correct": 4, "wrong": 6}
        for s in items:
            answer = s.response[len("\\boxed{") : -1]
            assert s.response == T.boxed(int(answer))
            assert 1 <= abs(int(answer) - (a + b)) <= 3 or s.label == "correct"
            score = reward_fns.grade(T.DATA_SOURCE, s.response, str(a + b)).score
            assert score == (1.0 if s.label == "correct" else 0.0)


def _ab(text: str) -> tuple[int, int]:
    tail = text.rsplit("What is ", 1)[1].rstrip("?")
    a, b = tail.split(" + ")
    return int(a), int(b)


@pytest.mark.parametrize("name,calls", [("single", 1), ("vote", T.NUM_VOTERS)])
def test_designs_run_in_the_sandbox_and_vote(name, calls):
    """Each design runs through the real runtime; every call sends the executor prompt; the vote takes the
    majority, and a malformed reply is a vote of its own (not an abstention)."""
    replies = iter(["\\boxed{8}", "\\7", "\\boxed{8}", "\\boxed{9}", "\\boxed{8}"])
    seen = []

    async def caller(request):
        seen.append(request)
        return AgentCallReply(text=next(replies), prompt_ids=[1], response_ids=[2], logprobs=[-0.1])

    record = asyncio.run(
        execute_design(T.DESIGNS[name], DesignTask("What is 3 + 5?"), caller, DesignLimits(wall_seconds=30)))
    assert record.status == "finished" and record.final_answer == "\\boxed{8}"
    assert reward_fns.grade(T.DATA_SOURCE, record.final_answer, "8").score == 1.0
    assert len(seen) == calls
    assert all(r.messages == T.executor_messages(T.Problem(3, 5)) for r in seen)


def test_report_rows_and_summary():
    records = [
        {"step": s, "data": {"training/global_step": s, "metaagent/rollout/designer_reward_mean": 0.1 * s,
                             "metaagent/rollout/executor_reward_mean": 0.05 * s,
                             "metaagent/rollout/design_valid_rate": 1.0, "metaagent/rollout/pattern/ensemble": 0.5,
                             "metaagent/phase/trains_designer": float(s > 2),
                             "metaagent/phase/trains_executor": float(s <= 2)}}
        for s in (1, 2, 3, 4)
    ]
    rows = [report.step_row(r) for r in records]
    assert [r["phase"] for r in rows] == ["executor", "executor", "designer", "designer"]
    assert rows[0]["single_share"] == 0.0 and rows[0]["vote_share"] == 0.5
    s = report.summarize(rows, window=2)
    assert s["designer_reward"]["first"] == pytest.approx(0.15) and s["designer_reward"]["last"] == pytest.approx(0.35)
    assert s["executor_reward"]["change"] == pytest.approx(0.1)
    assert report.step_row({"step": 0, "data": {"val/score": 1.0}}) is None


def test_malformed_replies_do_not_abstain_from_the_vote():
    replies = iter(["\\7", "\\boxed{8}", "\\7", "\\boxed{9}", "\\7"])

    async def caller(request):
        return AgentCallReply(text=next(replies), prompt_ids=[1], response_ids=[2], logprobs=[-0.1])

    record = asyncio.run(
        execute_design(T.DESIGNS["vote"], DesignTask("What is 3 + 5?"), caller, DesignLimits(wall_seconds=30)))
    assert record.final_answer == "\\7"
    assert reward_fns.grade(T.DATA_SOURCE, record.final_answer, "8").score == 0.0
