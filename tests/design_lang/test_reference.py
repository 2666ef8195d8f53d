"""Every reference design validates, classifies as its pattern, and runs against a scripted stub."""

from __future__ import annotations

import pytest

from verl_metaagent.design.classify import classify_design
from verl_metaagent.design.reference import REFERENCE_DESIGNS, load_reference, references_for
from verl_metaagent.design.validate import validate_design

NAMES = ["single_agent", "self_reflection", "ensemble_vote", "debate", "plan_solve_verify", "code_generate_test_fix"]


def test_index_lists_the_six_designs():
    assert list(REFERENCE_DESIGNS) == NAMES
    assert [d.name for d in references_for("code")] == ["single_agent", "code_generate_test_fix"]
    with pytest.raises(KeyError):
        load_reference("nope")


@pytest.mark.parametrize("name", NAMES)
def test_validates_and_classifies(name):
    ref = REFERENCE_DESIGNS[name]
    assert validate_design(ref.code) == []
    assert classify_design(ref.code) == ref.pattern


def test_single_agent_math(run_design):
    s = run_design(load_reference("single_agent"), question="2+3?", replies=["2+3 = \\boxed{5}"])
    assert s.asked == ["Solver"] and s.finals == ["5"]
    assert s.calls[-1] == ("final", {"answer": "5"})


def test_single_agent_code(run_design):
    s = run_design(load_reference("single_agent"), task_type="code", replies=["Here:\n```python\nprint(5)\n```"])
    assert s.asked == ["Solver"] and s.finals == ["print(5)\n"]


@pytest.mark.parametrize("replies,asked,final", [
    (["\\boxed{4}", "VERDICT: CORRECT"], ["Solver", "Critic"], "4"),
    (["\\boxed{4}", "VERDICT: INCORRECT, it is 5", "\\boxed{5}", "VERDICT: CORRECT"],
     ["Solver", "Critic", "Solver", "Critic"], "5"),
    (["\\boxed{4}", "VERDICT: INCORRECT", "\\boxed{6}", "VERDICT: INCORRECT", "\\boxed{5}"],
     ["Solver", "Critic", "Solver", "Critic", "Solver"], "5"),
])
def test_self_reflection(run_design, replies, asked, final):
    s = run_design(load_reference("self_reflection"), replies=replies)
    assert s.asked == asked and s.finals == [final]


def test_ensemble_vote(run_design):
    s = run_design(load_reference("ensemble_vote"), question="Q", replies=["\\boxed{5}", "\\boxed{6}", "\\boxed{5.0}"])
    assert s.asked == ["Solver1", "Solver2", "Solver3"] and s.finals == ["5"]
    # independent solvers: each sees only the question
    assert [p["messages"][-1]["content"] for p in s.ask_payloads()] == ["Question:\nQ"] * 3


def test_ensemble_vote_without_answers_sends_empty(run_design):
    s = run_design(load_reference("ensemble_vote"), replies=["no", "idea", "here"])
    assert s.finals == [""]


def test_debate(run_design):
    s = run_design(load_reference("debate"),
                   replies=["\\boxed{3}", "\\boxed{4}", "\\boxed{4}", "\\boxed{4}", "It is \\boxed{4}"])
    assert s.asked == ["DebaterA", "DebaterB", "DebaterA", "DebaterB", "Judge"] and s.finals == ["4"]
    judge_msg = s.ask_payloads()[-1]["messages"][-1]["content"]
    assert judge_msg.count("[DebaterA]") == 2 and judge_msg.endswith("Which answer is correct?")


def test_debate_judge_without_box_falls_back_to_vote(run_design):
    s = run_design(load_reference("debate"), replies=["\\boxed{3}", "\\boxed{4}", "\\boxed{7}", "\\boxed{7}", "unsure"])
    assert s.finals == ["7"]


def test_plan_solve_verify(run_design):
    s = run_design(load_reference("plan_solve_verify"), replies=["1. add", "\\boxed{5}", "checked: \\boxed{5}"])
    assert s.asked == ["Planner", "Solver", "Verifier"] and s.finals == ["5"]
    s2 = run_design(load_reference("plan_solve_verify"), replies=["1. add", "\\boxed{5}", "looks fine"])
    assert s2.finals == ["5"]


def test_code_generate_test_fix(run_design):
    s = run_design(
        load_reference("code_generate_test_fix"), task_type="code",
        replies=["```python\nprint(int(input())*2)\n```", "fixed:\n```python\nprint(int(input())**2)\n```"],
        test_replies=[{"passed": 1, "total": 2,
                       "results": [{"passed": True}, {"passed": False, "input": "3", "expected": "9", "output": "6"}]},
                      {"passed": 2, "total": 2, "results": [{"passed": True}, {"passed": True}]}],
    )
    assert [op for op, _ in s.calls] == ["ask", "run_tests", "ask", "run_tests", "final"]
    assert s.calls[1] == ("run_tests", {"code": "print(int(input())*2)\n", "tests": "public"})
    assert "Passed 1/2 tests." in s.ask_payloads()[1]["messages"][-1]["content"]
    assert s.finals == ["print(int(input())**2)\n"]


def test_code_generate_test_fix_gives_up_after_three_repairs(run_design):
    fail = {"passed": 0, "total": 1, "results": [{"passed": False}]}
    s = run_design(load_reference("code_generate_test_fix"), task_type="code",
                   replies=["```python\nv1\n```", "```python\nv2\n```", "```python\nv3\n```", "```python\nv4\n```"],
                   test_replies=[fail, fail, fail])
    assert [op for op, _ in s.calls] == ["ask", "run_tests", "ask", "run_tests", "ask", "run_tests", "ask", "final"]
    assert s.finals == ["v4\n"]
