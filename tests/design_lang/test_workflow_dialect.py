"""Release-style designs (fixtures written for these tests) run unchanged against a scripted stub."""

from __future__ import annotations

from pathlib import Path

import pytest

from verl_metaagent.design.classify import classify_design
from verl_metaagent.design.validate import validate_design
from verl_metaagent.design.workflow import core

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> str:
    return (FIXTURES / f"{name}.py").read_text()


@pytest.mark.parametrize("name,pattern", [
    ("dialect_single", "single"),
    ("dialect_ensemble_vote", "ensemble"),
    ("dialect_reflection_pipeline", "reflection"),
    ("dialect_debate", "debate"),
    ("dialect_code_tool", "code_test"),
    ("dialect_router", "ensemble"),
])
def test_fixtures_validate_and_classify(name, pattern):
    assert validate_design(fixture(name)) == []
    assert classify_design(fixture(name)) == pattern


def test_single(run_design, capsys):
    s = run_design(fixture("dialect_single"), question="What is 2+3?", replies=["2+3=5, \\boxed{5}"])
    assert s.asked == ["MathSolver"]
    assert s.ask_payloads()[0]["messages"] == [
        {"role": "system", "content": "You are an expert mathematician.\n"
                                      "Solve the problem step by step and put the final answer in \\boxed{}."
                                      + core._FORMAT_HINT["math"]},
        {"role": "user", "content": "What is 2+3?"},
    ]
    assert s.finals == ["2+3=5, \\boxed{5}"]
    assert "FINAL ANSWER:" in capsys.readouterr().out  # printing is harmless and ignored


def test_ensemble_unanimous_skips_judge(run_design):
    s = run_design(fixture("dialect_ensemble_vote"), replies=["\\boxed{5}", "so \\boxed{5}", "\\boxed{5.0}"])
    assert s.asked == ["ForwardSolver", "BackwardSolver", "CasesSolver"]
    assert s.finals == ["\\boxed{5}"]


def test_ensemble_split_asks_judge(run_design):
    s = run_design(fixture("dialect_ensemble_vote"), question="Q",
                   replies=["\\boxed{5}", "\\boxed{6}", "\\boxed{5}", "Solver 2 erred: \\boxed{5}"])
    assert s.asked == ["ForwardSolver", "BackwardSolver", "CasesSolver", "Judge"]
    judge_user = s.ask_payloads()[3]["messages"][1]["content"]
    assert judge_user == (
        "Original question:\nQ\n\nSolutions from several agents:\n\n"
        "[Solution 1 - ForwardSolver]:\n\\boxed{5}\n\n[Solution 2 - BackwardSolver]:\n\\boxed{6}\n\n"
        "[Solution 3 - CasesSolver]:\n\\boxed{5}\n\nCheck them and give the correct final answer."
    )
    assert s.finals == ["Solver 2 erred: \\boxed{5}"]


def test_reflection_then_checker_sees_condensed_prior_output(run_design):
    s = run_design(fixture("dialect_reflection_pipeline"), question="Q",
                   replies=["\\boxed{4}", "INCORRECT: should be 5", "\\boxed{5}", "Verdict: CORRECT",
                            "Final: \\boxed{5}"])
    assert s.asked == ["Solver", "Critic", "Solver", "Critic", "Checker"]
    revise = s.ask_payloads()[2]["messages"][1]["content"]
    assert "Your previous solution:\n\\boxed{4}" in revise and "Critique:\nINCORRECT: should be 5" in revise
    assert s.ask_payloads()[4]["messages"][1]["content"] == (
        "Original question:\nQ\n\nPrevious agents' outputs:\n\n[Reflect]:\n\\boxed{5}\n\n"
        "Based on the question and the outputs above, give your own solution."
    )
    assert s.finals == ["Final: \\boxed{5}"]


def test_reflection_stops_at_num_iterations(run_design):
    s = run_design(fixture("dialect_reflection_pipeline"),
                   replies=["\\boxed{1}", "wrong", "\\boxed{2}", "wrong", "\\boxed{3}", "\\boxed{3}"])
    assert s.asked == ["Solver", "Critic", "Solver", "Critic", "Solver", "Checker"]


def test_debate(run_design):
    s = run_design(fixture("dialect_debate"),
                   replies=["\\boxed{3}", "\\boxed{4}", "\\boxed{4}", "\\boxed{4}", "\\boxed{4}"])
    assert s.asked == ["Alice", "Bob", "Alice", "Bob", "Judge"]
    alice2 = s.ask_payloads()[2]["messages"][1]["content"]
    assert "Your previous answer:\n\\boxed{3}" in alice2 and "[Debater 1 - Bob]:\n\\boxed{4}" in alice2
    assert s.finals == ["\\boxed{4}"]


def test_code_tool_runs_through_run_tests_op(run_design):
    s = run_design(
        fixture("dialect_code_tool"), task_type="code", question="Sum 0..4",
        replies=["Let me check.\n```python\nprint(sum(range(5)))\n```", "It prints 10. Done."],
        test_replies=[{"passed": 0, "total": 1, "results": [{"passed": False, "stdout": "10\n", "error": ""}]}],
    )
    assert [op for op, _ in s.calls] == ["ask", "run_tests", "ask", "final"]
    assert s.calls[1] == ("run_tests", {"code": "print(sum(range(5)))\n", "tests": [{"input": "", "output": None}]})
    second = s.ask_payloads()[1]["messages"]
    assert second[2] == {"role": "assistant", "content": "Let me check.\n```python\nprint(sum(range(5)))\n```"}
    assert second[3]["content"].startswith("Tool python_execute output:\n10\n")
    assert s.finals == ["It prints 10. Done."]


def test_code_tool_respects_max_turns(run_design):
    out = {"passed": 0, "total": 1, "results": [{"stdout": "", "error": "NameError: x"}]}
    s = run_design(fixture("dialect_code_tool"), task_type="code",
                   replies=["```python\nx\n```"] * 3, test_replies=[out, out])
    assert [op for op, _ in s.calls] == ["ask", "run_tests", "ask", "run_tests", "ask", "final"]
    assert "Error:\nNameError: x" in s.ask_payloads()[1]["messages"][3]["content"]


@pytest.mark.parametrize("choice,asked,final", [
    ("This one is \\boxed{hard}", ["Router", "A", "B"], "\\boxed{2}"),
    ("easy", ["Router", "QuickSolver"], "\\boxed{2}"),
])
def test_router(run_design, choice, asked, final):
    replies = [choice] + ["\\boxed{2}"] * (len(asked) - 1)
    s = run_design(fixture("dialect_router"), replies=replies)
    assert s.asked == asked and s.finals == [final]


def test_printed_fake_answer_is_not_the_answer(run_design):
    code = fixture("dialect_single").replace("print(result.content)", "print('\\\\boxed{999}')")
    s = run_design(code, replies=["\\boxed{5}"])
    assert s.finals == ["\\boxed{5}"]


def test_tool_registry_and_errors():
    reg = core.ToolRegistry()
    reg.register("add", lambda a, b: a + b, "add two numbers", {"type": "object"})
    assert reg.list_tools() == ["add"] and reg.call("add", {"a": 2, "b": 3}) == "5"
    assert reg.call("add", {"a": 1}).startswith("Error: TypeError")
    assert reg.call("nope") == "Error: unknown tool 'nope'"
    assert reg.get_tool_schemas() == [{"type": "function", "function": {
        "name": "add", "description": "add two numbers", "parameters": {"type": "object"}}}]
    with pytest.raises(ValueError):
        reg.register("x", None)
    with pytest.raises(ValueError):
        core.EnsembleNode(agents=[core.AgentNode("a", "")], strategy="best_of")


def test_generic_tool_call(run_design):
    code = '''
from workflow import AgentNode, Workflow, ToolRegistry
def square(n):
    return n * n
reg = ToolRegistry()
reg.register("square", square, "square a number", {"type": "object", "properties": {"n": {"type": "integer"}}})
agent = AgentNode("Calc", "Use tools.", reg, max_turns=3)
wf = Workflow()
wf.add_node(agent)
wf.run(question)
'''
    s = run_design(code, replies=['<tool_call>{"name": "square", "arguments": {"n": 7}}</tool_call>', "\\boxed{49}"])
    assert s.ask_payloads()[1]["messages"][3]["content"].startswith("Tool square output:\n49")
    assert s.finals == ["\\boxed{49}"]


def test_router_with_routing_func_and_positional_release_signature(run_design):
    code = '''
from workflow import AgentNode, Workflow
from workflow.nodes import RouterNode
short = AgentNode("Short", "Answer briefly.", None, None, 1)
long = AgentNode("Long", "Answer at length.", None, None, 1)
def route(ctx):
    return "long" if len(ctx.question) > 10 else "short"
wf = Workflow("routed")
wf.add_node(RouterNode("R", {"short": short, "long": long}, route, default_route="short"))
wf.run(question)
'''
    assert validate_design(code) == []
    s = run_design(code, question="2+2?", replies=["\\boxed{4}"])
    assert s.asked == ["Short"]
    s = run_design(code, question="A much longer question", replies=["\\boxed{7}"])
    assert s.asked == ["Long"] and s.finals == ["\\boxed{7}"]
    assert core.AgentNode("x", "s", None, None, 3).max_turns == 3


def test_code_task_final_is_the_program(run_design):
    s = run_design(fixture("dialect_single"), task_type="code",
                   replies=["Solution:\n```python\nprint(input())\n```\nDone."])
    assert s.finals == ["print(input())\n"]


def _agents(*names):
    return [core.AgentNode(n, "s", max_turns=1) for n in names]


def test_weighted_vote_and_consensus(stub):
    from verl_metaagent.design import api
    api.configure(question="Q", task_type="math")
    a, b, c = _agents("A", "B", "C")
    node = core.EnsembleNode("W", [a, b, c], strategy="weighted_vote", weights=[1.0, 1.0, 3.0])
    stub.replies[:] = ["\\boxed{1}", "\\boxed{1}", "\\boxed{2}"]
    ctx = core.Context()
    ctx.add_message(core.Message("Q", core.MessageType.USER_INPUT))
    assert node(ctx).content == "\\boxed{2}"
    (j,) = _agents("J")
    node = core.EnsembleNode("C", [a, b], strategy="consensus", consensus_agent=j)
    stub.replies[:] = ["\\boxed{1}", "\\boxed{1}", "judged \\boxed{1}"]
    assert node(ctx).content == "judged \\boxed{1}"
    assert stub.asked[-3:] == ["A", "B", "J"]
    # plain majority without judge: plurality, first of the winning group
    node = core.EnsembleNode("M", [a, b, c])
    stub.replies[:] = ["\\boxed{3}", "\\boxed{4}", "x \\boxed{4}"]
    assert node(ctx).content == "\\boxed{4}"


def test_conditional_and_loop_workflows(run_design):
    code = '''
from workflow import AgentNode, ConditionalWorkflow, LoopWorkflow
a = AgentNode("A", "s", max_turns=1)
b = AgentNode("B", "s", max_turns=1)
cw = ConditionalWorkflow("c")
cw.add_node(a)
cw.add_node(b, lambda ctx: "\\\\boxed{" not in ctx.get_latest_message().content)
cw.run(question)
lw = LoopWorkflow("l", max_iterations=3)
lw.add_node(a)
lw.set_loop_condition(lambda ctx: "stop" not in ctx.get_latest_message().content)
lw.run(question)
'''
    s = run_design(code, replies=["\\boxed{1}", "go", "go", "stop"])
    assert s.asked == ["A", "A", "A", "A"] and s.finals == ["\\boxed{1}", "stop"]


def test_relay_errors_in_python_tool_propagate(stub):
    from verl_metaagent.design import api
    api.configure(question="Q", task_type="code")
    reg = core.ToolRegistry().register_python_execute()
    assert reg.call("python_execute", {}) == "Error: python_execute needs a 'code' string"
    # the stub has no run_tests reply queued: the relay raises, and so must the tool
    with pytest.raises(AssertionError, match="unexpected run_tests"):
        reg.call("python_execute", {"code": "print(1)"})
