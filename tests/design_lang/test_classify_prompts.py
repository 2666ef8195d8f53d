"""classify_design / design_stats on hand-written scripts; designer prompts."""

from __future__ import annotations

import pytest

from verl_metaagent.design.api import API_SPEC
from verl_metaagent.design.classify import PATTERNS, classify_design, design_stats
from verl_metaagent.design.parse import parse_design
from verl_metaagent.design.prompts import OUTPUT_FORMAT, build_designer_messages, format_public_tests
from verl_metaagent.design.reference import load_reference
from verl_metaagent.design.validate import validate_design

H = "from verl_metaagent.design.api import *\n"


@pytest.mark.parametrize("code,label", [
    (H + "a = Agent('Solver', 's')\nfinish(a.ask())", "single"),
    (H + "a = Agent('Solver', 's')\nfor _ in range(3):\n    a.ask()\nfinish(a.last)", "other"),
    (H + "a = Agent('A', 's')\nb = Agent('B', 's')\na.ask()\nfinish(b.ask())", "other"),
    (H + "xs = [Agent(f'S{i}', 's') for i in range(5)]\nfinish(majority_vote([x.ask() for x in xs]))", "ensemble"),
    (H + "a = Agent('Solver', 's')\nj = Agent('Judge', 'j')\nfinish(pick(j, [a.ask(), a.ask()]))", "ensemble"),
    (H + "a = Agent('Writer', 's')\nc = Agent('Reviewer', 'r')\na.ask()\nc.ask()\nfinish(a.ask())", "reflection"),
    (H + "p = Agent('Planner', 'p')\ns = Agent('Solver', 's')\nv = Agent('Checker', 'v')\np.ask()\ns.ask()\n"
     "finish(v.ask())", "plan_verify"),
    (H + "d = [Agent('Debater1', ''), Agent('Debater2', '')]\nfor r in range(2):\n    for x in d:\n        x.ask()\n"
     "finish(d[0].last)", "debate"),
    (H + "c = Agent('Coder', '')\ncode = extract_code(c.ask())\nrun_tests(code)\nfinish(code)", "code_test"),
    ("from workflow import AgentNode, Workflow, ToolRegistry\nr = ToolRegistry()\nr.register_python_execute()\n"
     "w = Workflow()\nw.add_node(AgentNode('Coder', '', r))\nw.run(question)", "code_test"),
    ("from workflow import AgentNode, Workflow\nfrom workflow.nodes import ReflectionNode\n"
     "w = Workflow()\nw.add_node(ReflectionNode(agent=AgentNode('S', ''), critic_agent=AgentNode('V', '')))\n"
     "w.run(question)", "reflection"),
    ("from workflow import AgentNode, Workflow\nw = Workflow()\nw.add_node(AgentNode('Solver', ''))\nw.run(question)",
     "single"),
    ("x = (", "other"),
    (None, "other"),
])
def test_classify(code, label):
    assert label in PATTERNS
    assert classify_design(code) == label


def test_design_stats():
    st = design_stats(load_reference("debate"))
    assert st["parses"] and st["num_agents"] == 3 and st["num_ask_sites"] == 2 and st["num_asks_in_loops"] == 1
    assert (st["num_loops"] == 2 and st["roles"] == ["debatera", "debaterb", "judge"]
            and not st["runs_code"] and not st["dialect"])
    st = design_stats(load_reference("ensemble_vote"))
    assert st["num_agents"] == 3 and st["num_ask_sites"] == 1 and st["num_asks_in_loops"] == 1
    st = design_stats("from workflow import Workflow\nfrom workflow.nodes import EnsembleNode, DebateNode\n"
                      "w=Workflow()\n"
                      "w.add_node(DebateNode(debaters=[]))\nw.add_node(EnsembleNode(agents=[]))\nw.run(question)")
    assert st["dialect"] and st["node_types"] == ["DebateNode", "EnsembleNode"] and st["num_lines"] == 6
    assert design_stats("x = (")["parses"] is False


@pytest.mark.parametrize("source, agents", [
    ("[Agent(f'solver_{c}', 'Solve.') for c in 'ABC']", 3),
    ("roles = 'XYZW'\n[Agent(r, 'Solve.') for r in roles]", 4),
    ("names = ['a', 'b']\n[Agent(n, 'x') for n, _ in zip(names, range(9))]", 2),
    ("[Agent(str(i), 'x') for i in range(2, 7)]", 5),
    ("[[Agent(f'{i}{j}', 'x') for j in range(2)] for i in 'ab']", 4),
])
def test_agents_built_in_comprehensions_are_counted_by_multiplicity(source, agents):
    assert design_stats("from verl_metaagent.design.api import *\n" + source)["num_agents"] == agents


# ----------------------------------------------------------------- prompts
def test_short_variant_is_the_task_only():
    assert build_designer_messages({"question": "What is 1+1?", "task_type": "math"}, variant="short") == [
        {"role": "user", "content": "Design Multi Agent System for the Question: What is 1+1?"}
    ]


def test_full_math_variant():
    msgs = build_designer_messages({"question": "What is 1+1?", "task_type": "math"})
    assert [m["role"] for m in msgs] == ["system", "user"]
    system = msgs[0]["content"]
    assert API_SPEC.rstrip() in system and system.endswith(OUTPUT_FORMAT)
    assert load_reference("ensemble_vote").rstrip() in system and load_reference("self_reflection").rstrip() in system
    assert "code_generate_test_fix" not in system and "Math task rules" in system
    assert msgs[1]["content"] == "Task type: MATH\n\nQuestion:\nWhat is 1+1?\n\n" + OUTPUT_FORMAT
    assert len(system) < 6000  # compact: the token budget matters


class _Task:  # attribute-style task (e.g. the runtime's DesignTask)
    question = "Print the square of n."
    task_type = "code"
    public_tests = '{"inputs": ["3\\n", "4\\n", "5\\n"], "outputs": ["9\\n", "16\\n", "25\\n"]}'


def test_full_code_variant_with_public_tests():
    msgs = build_designer_messages(_Task())
    system = msgs[0]["content"]
    assert "Code task rules" in system and load_reference("code_generate_test_fix").rstrip() in system
    assert "ensemble_vote" not in system
    assert msgs[1]["content"] == (
        "Task type: CODE\n\nQuestion:\nPrint the square of n.\n\n"
        "Public tests (run_tests(code, \"public\") runs all of them):\n"
        "Example 1\nInput:\n3\n\nOutput:\n9\n\n\nExample 2\nInput:\n4\n\nOutput:\n16\n\n\n" + OUTPUT_FORMAT
    )
    short = build_designer_messages(_Task(), variant="short")[0]["content"]
    assert short.startswith("Design Multi Agent System for the Question: Print the square of n.\n\nPublic tests")


def test_format_public_tests_shapes():
    assert format_public_tests(None) == "" and format_public_tests("not json") == ""
    assert format_public_tests([{"input": "1", "output": "2"}]) == "Example 1\nInput:\n1\nOutput:\n2"
    long = format_public_tests({"inputs": ["x" * 400], "outputs": ["y"]})
    assert "x" * 300 + "...[truncated]" in long and "x" * 301 not in long


def test_bad_variant():
    with pytest.raises(ValueError, match="prompt variant"):
        build_designer_messages({"question": "q", "task_type": "math"}, variant="long")


def test_few_shot_in_release_output_format_parses_and_validates():
    answer = ("<think>Problem type: math. Analysis: easy. Pattern: single. Agents: one solver.</think>\n<code>\n"
              "```python\n" + load_reference("single_agent") + "```\n</code>")
    parsed = parse_design(answer)
    assert parsed.code == load_reference("single_agent") and validate_design(parsed.code) == []


def test_call_based_code_task_mentions_function_and_starter():
    task = {"question": "Add two numbers.", "task_type": "code",
            "starter_code": "class Solution:\n    def add(self, a, b):\n",
            "public_tests": {"fn_name": "add", "inputs": [[1, 2]], "outputs": [3]}}
    user = build_designer_messages(task)[1]["content"]
    assert user.startswith(
        "Task type: CODE\n\nQuestion:\nAdd two numbers.\n\n"
        "Starter code (the program must complete it):\n```python\nclass Solution:\n    def add(self, a, b):\n```\n\n"
        "Tests call the function `add` (no stdin/stdout); the program must define it.\n\n"
        "Public tests (run_tests(code, \"public\") runs all of them):\nExample 1\nInput:\n[1, 2]\nOutput:\n3"
    )
