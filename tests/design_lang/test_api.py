"""The design API against a scripted transport: exact payloads, history, aggregation, finish."""

from __future__ import annotations


import pytest

from verl_metaagent.design import api


@pytest.fixture(autouse=True)
def _task():
    api.configure(question="What is 2+3?", task_type="math")


def test_first_ask_shows_question_and_instruction(stub):
    stub.replies[:] = ["It is \\boxed{5}."]
    a = api.Agent("Solver", "You solve.")
    assert a.ask("Be brief.") == "It is \\boxed{5}."
    assert stub.calls == [
        ("ask", {"agent": "Solver", "messages": [
            {"role": "system", "content": "You solve."},
            {"role": "user", "content": "Question:\nWhat is 2+3?\n\nBe brief."},
        ]})
    ]


def test_multi_turn_history_and_other_agents_outputs(stub):
    stub.replies[:] = ["A1", "B1", "A2"]
    a = api.Agent("A", "sa")
    b = api.Agent("B", "sb", sampling={"temperature": 0.5})
    a.ask()
    b.ask("check")
    a.ask("revise")
    p = stub.ask_payloads()
    assert p[1] == {"agent": "B", "sampling": {"temperature": 0.5}, "messages": [
        {"role": "system", "content": "sb"},
        {"role": "user", "content": "Question:\nWhat is 2+3?\n\nOutputs of other agents:\n[A]:\nA1\n\ncheck"},
    ]}
    # A's second call: its own history, then only what appeared since (B1), not its own A1 again.
    assert p[2]["messages"] == [
        {"role": "system", "content": "sa"},
        {"role": "user", "content": "Question:\nWhat is 2+3?"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Outputs of other agents:\n[B]:\nB1\n\nrevise"},
    ]
    assert api.transcript() == [("A", "A1"), ("B", "B1"), ("A", "A2")]


def test_private_agent_and_memory_notes(stub):
    stub.replies[:] = ["x", "y", "z"]
    solo = api.Agent("Solo", "", sees_others=False)
    other = api.Agent("Other", "")
    other.ask()
    api.memory.post("use modular arithmetic", author="Coach")
    solo.ask()
    other.ask()
    p = stub.ask_payloads()
    assert p[1]["messages"] == [{"role": "user", "content": "Question:\nWhat is 2+3?"}]
    assert p[2]["messages"][-1] == {
        "role": "user", "content": "Outputs of other agents:\n[Coach]:\nuse modular arithmetic\n\n[Solo]:\ny"}
    api.memory["k"] = 3
    assert api.memory.get("k") == 3 and "k" in api.memory and api.memory.get("missing", 7) == 7


def test_long_outputs_are_truncated_for_other_agents(stub):
    long = "H" * 1000 + "M" * 5000 + "T" * 3000
    stub.replies[:] = [long, "ok"]
    api.Agent("A", "").ask()
    api.Agent("B", "").ask()
    shown = stub.ask_payloads()[1]["messages"][-1]["content"]
    head = api.HEAD_CHARS
    tail = api.MAX_CONTEXT_CHARS - head
    assert shown == ("Question:\nWhat is 2+3?\n\nOutputs of other agents:\n[A]:\n"
                     + "H" * head + "\n...[truncated]...\n" + "T" * tail)


def test_ask_function_equals_method(stub):
    stub.replies[:] = ["r"]
    a = api.Agent("A", "s")
    assert api.ask(a, "go") == "r" and a.last == "r"
    assert stub.asked == ["A"]


@pytest.mark.parametrize("text,expected", [
    ("so \\boxed{42}.", "42"),
    ("first \\boxed{1} then \\boxed{\\frac{3}{4}}", "\\frac{3}{4}"),
    ("\\boxed{x^{2}+1}", "x^{2}+1"),
    ("FINAL ANSWER: $17$.", "17"),
    ("Answer: 12", "12"),
    ("no answer here", None),
    ("broken \\boxed{12", None),
])
def test_extract_answer(text, expected):
    assert api.extract_answer(text) == expected


def test_extract_code_takes_last_block():
    text = "draft\n```python\nprint(1)\n```\nfinal\n```python\nprint(2)\n```"
    assert api.extract_code(text) == "print(2)\n"
    assert api.extract_code("```\nx = 1\n```") == "x = 1\n"
    assert api.extract_code("no code") is None


@pytest.mark.parametrize("raw,norm", [
    ("$\\boxed{1,000}$.", "1000"),
    ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("\\frac12", "\\frac{1}{2}"),
    (" 5.00 ", "5"),
    ("\\text{ 7 }", "7"),
    ("\\left( 1, 2 \\right)", "(1,2)"),
    (None, ""),
])
def test_normalize_answer(raw, norm):
    assert api.normalize_answer(raw) == norm


def test_majority_vote():
    assert api.majority_vote(["5", "5.0", "6"]) == "5"
    assert api.majority_vote(["6", "5", "5", "6"]) == "6"  # tie -> earliest
    assert api.majority_vote([None, "", "\\dfrac12", "\\frac12", "3"]) == "\\dfrac12"
    assert api.majority_vote([None, ""]) is None


def test_pick(stub):
    stub.replies[:] = ["Candidate 2 is right: \\boxed{2}", "hmm \\boxed{9}"]
    judge = api.Agent("Judge", "", sees_others=False)
    assert api.pick(judge, ["x=1", "x=2"], "Which?") == "x=2"
    msg = stub.ask_payloads()[0]["messages"][-1]["content"]
    assert msg == ("Question:\nWhat is 2+3?\n\nWhich?\n\nCandidate 1:\nx=1\n\nCandidate 2:\nx=2\n\n"
                   "Choose the best candidate. Answer with its number as \\boxed{k} (1..2).")
    assert api.pick(judge, ["a", "b"]) == "a"  # 9 out of range -> first
    with pytest.raises(ValueError):
        api.pick(judge, [])


def test_run_tests_and_run_code_payloads(stub):
    stub.test_replies[:] = [
        {"passed": 1, "total": 2,
         "results": [{"passed": True}, {"passed": False, "input": "3", "expected": "9", "output": "6"}]},
        {"passed": 0, "total": 1, "results": [{"passed": False, "stdout": "hi\n", "error": ""}]},
    ]
    rep = api.run_tests("print(1)")
    assert (rep.passed, rep.total, rep.all_passed) == (1, 2, False)
    assert rep.summary() == "Passed 1/2 tests.\n{'input': '3', 'expected': '9', 'output': '6'}"
    run = api.run_code("print('hi')", stdin="x")
    assert (run.stdout, run.error, run.ok) == ("hi\n", "", True)
    assert stub.calls == [
        ("run_tests", {"code": "print(1)", "tests": "public"}),
        ("run_tests", {"code": "print('hi')", "tests": [{"input": "x", "output": None}]}),
    ]
    assert api.TestReport(0, 0, []).all_passed is False


def test_finish_sends_final_and_exits(stub):
    with pytest.raises(SystemExit) as exc:
        api.finish(42)
    assert exc.value.code == 0
    assert stub.calls == [("final", {"answer": "42"})]
    with pytest.raises(SystemExit):
        api.finish("again")  # a second finish sends nothing
    assert stub.finals == ["42"]


def test_api_spec_names_every_public_function():
    for name in ("Agent", "ask", "memory", "extract_answer", "extract_code", "normalize_answer", "majority_vote",
                 "pick", "run_tests", "run_code", "finish"):
        assert name in api.API_SPEC
        assert name in api.__all__


def test_design_modules_do_not_import_verl_torch_ray():
    from support.imports import heavy_imports

    statements = (
        "import verl_metaagent.design.api, verl_metaagent.design.workflow, verl_metaagent.design.workflow.nodes\n"
        "import verl_metaagent.design.parse, verl_metaagent.design.validate, verl_metaagent.design.classify\n"
        "import verl_metaagent.design.prompts, verl_metaagent.design.reference"
    )
    assert heavy_imports(statements) == []
