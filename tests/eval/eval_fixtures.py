"""Shared helpers of the evaluation tests: tiny math benchmarks with known outcomes and a
deterministic responder for the loopback OpenAI-compatible server.

Outcomes (the tests' expected table is derived from these by hand):

============  ====  ============  ============  ===============  ===================
benchmark     q     single agent  MetaAgent-X   ensemble_vote    notes
============  ====  ============  ============  ===============  ===================
aime24        1+1   2 right       vote: right   right            designer: 3-voter vote (4 calls)
aime24        2+2   5 wrong       4,5,4: right  right
aime24        3+3   7 wrong       6,7,6: right  right
aime24        4+4   8 right       invalid: 0    9 wrong          designer writes an invalid script (1 call)
aime25        5+5   10 right      right         right            vote (4 calls)
aime25        6+6   13 wrong      13,13,13      13 wrong         vote (4 calls)
============  ====  ============  ============  ===============  ===================
"""

from __future__ import annotations

import re

VOTE_DESIGN = """<think>arithmetic; three voters</think><code>
```python
from verl_metaagent.design.api import *
voters = [Agent(f"Voter{c}", f"You are Voter {c}. Solve it and put the answer in \\\\boxed{{}}.", sees_others=False) for c in "ABC"]
answers = [extract_answer(v.ask()) for v in voters]
finish(majority_vote(answers) or "")
```
</code>"""  # noqa: E501

INVALID_DESIGN = "<code>\n```python\nimport os\nos.system('echo hi')\nfinish('1')\n```\n</code>"

RELEASE_DESIGN = """<think>vote with a judge</think><code>
```python
from workflow import AgentNode, Workflow, ToolRegistry
from workflow.nodes import EnsembleNode

tools = ToolRegistry()
solvers = [AgentNode(name=f"Voter{c}", system_prompt=f"You are Voter {c}.", tool_registry=tools, max_turns=1) for c in "ABC"]
judge = AgentNode(name="Judge", system_prompt="You are the Judge. Decide between the answers.", tool_registry=tools, max_turns=1)
workflow = Workflow(name="vote")
workflow.add_node(EnsembleNode(name="Vote", agents=solvers, strategy="majority_vote", consensus_agent=judge))
result = workflow.run(question)
print(result.content)
```
</code>"""  # noqa: E501

# question -> (ground truth, single agent, voters A/B/C, ensemble_vote reference solvers)
OUTCOMES = {
    (1, 1): ("2", "2", ("2", "2", "2"), "2"),
    (2, 2): ("4", "5", ("4", "5", "4"), "4"),
    (3, 3): ("6", "7", ("6", "7", "6"), "6"),
    (4, 4): ("8", "8", None, "9"),
    (5, 5): ("10", "10", ("10", "10", "10"), "10"),
    (6, 6): ("12", "13", ("13", "13", "13"), "13"),
}
BENCHES = {"aime24": [(1, 1), (2, 2), (3, 3), (4, 4)], "aime25": [(5, 5), (6, 6)]}
QUESTION = re.compile(r"What is (\d+)\+(\d+)\?")


def question_of(text: str):
    found = QUESTION.findall(text or "")
    return tuple(int(x) for x in found[-1]) if found else None


def row(bench: str, i: int, a: int, b: int) -> dict:
    q = f"What is {a}+{b}?"
    return {
        "data_source": f"math/{bench}",
        "prompt": [{"role": "user", "content": q + " Put the final answer in \\boxed{}."}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": OUTCOMES[(a, b)][0]},
        "extra_info": {"index": i, "split": "test", "question": q, "task_type": "math", "source_id": f"{bench}-{i}",
                       "difficulty": "", "public_tests": "", "starter_code": ""},
    }


def responder(body: dict, *, release: bool = False) -> str:
    """Deterministic answers: designer -> a design per question; agents -> the table above."""
    messages = body["messages"]
    first = messages[0]["content"]
    last_user = [m["content"] for m in messages if m["role"] == "user"][-1]
    q = question_of(last_user) or question_of(first)
    if first.startswith("You design a multi-agent system") or first.startswith("Design Multi Agent System"):
        if OUTCOMES[q][2] is None:
            return INVALID_DESIGN
        return RELEASE_DESIGN if release else VOTE_DESIGN
    gt, single, voters, ens = OUTCOMES[q]
    system = first
    if system.startswith("You are Voter "):
        return f"I think it is \\boxed{{{voters['ABC'.index(system[len('You are Voter ')])]}}}"
    if system.startswith("You are the Judge"):
        return f"The right answer is \\boxed{{{gt}}}"
    if "You are a mathematician who solves problems by" in system:
        return f"So the answer is \\boxed{{{ens}}}"
    if "You are an expert mathematician" in system:
        return f"The answer is \\boxed{{{single}}}"
    raise AssertionError(f"unexpected request: {system[:80]!r}")


def load_problems_of(paths: dict) -> dict:
    from verl_metaagent.eval import load_problems

    return {name: load_problems(name, path) for name, path in paths.items()}
