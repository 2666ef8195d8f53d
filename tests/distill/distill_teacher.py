"""A scripted teacher for the loopback server: designs and agent answers decided per (problem, design, execution).

Problems are "What is a + b?" rows (``write_problems``). Every request carries the seed the tree
runner derived from (seed, step, problem, design[, execution, call]), so :class:`ScriptedTeacher`
maps a request back to its place in the tree without depending on request order.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Callable, Optional

from verl_metaagent.rollout.tree import derive_seed
from verl_metaagent.testing.openai_server import Reply

THINK = "<think>\nProblem type: MATH (arithmetic).\nWorkflow pattern: {pattern}.\nAgent design: {agents}.\n</think>\n"

DESIGNS = {
    "vote": THINK.format(pattern="ensemble vote", agents="three solvers and a majority vote") + (
        "<code>\n```python\nfrom verl_metaagent.design.api import *\n"
        "answers = [Agent(f\"S{i}\", \"Solve it. Put the answer in \\\\boxed{}.\").ask() for i in range(3)]\n"
        "finish(majority_vote([extract_answer(a) for a in answers]))\n```\n</code>"
    ),
    "single": THINK.format(pattern="single agent", agents="one solver") + (
        "<code>\n```python\nfrom verl_metaagent.design.api import *\n"
        "solver = Agent(\"Solver\", \"Solve it. Put the answer in \\\\boxed{}.\")\n"
        "finish(extract_answer(solver.ask()))\n```\n</code>"
    ),
    "no_think": (
        "<code>\n```python\nfrom verl_metaagent.design.api import *\n"
        "solver = Agent(\"Solver\", \"Solve it. Put the answer in \\\\boxed{}.\")\n"
        "finish(extract_answer(solver.ask()))\n```\n</code>"
    ),
    "invalid": THINK.format(pattern="single agent", agents="one solver") + (
        "<code>\n```python\nimport os\nfrom verl_metaagent.design.api import *\nfinish(os.getcwd())\n```\n</code>"
    ),
}


def write_problems(path: str, pairs: list[tuple[int, int]], data_source: str = "math/demo") -> list[str]:
    """A verl RL parquet of "What is a + b?" problems; returns the questions."""
    import pandas as pd

    rows, questions = [], []
    for i, (a, b) in enumerate(pairs):
        q = f"What is {a} + {b}?"
        questions.append(q)
        rows.append({
            "data_source": data_source,
            "prompt": [{"role": "user", "content": q + " Put the final answer in \\boxed{}."}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": str(a + b)},
            "extra_info": {"index": i, "split": "train", "question": q, "task_type": "math", "public_tests": "",
                           "starter_code": ""},
        })
    pd.DataFrame(rows).to_parquet(path)
    return questions


def _sum_of(text: str) -> Optional[tuple[int, int]]:
    m = re.search(r"What is (\d+) \+ (\d+)\?", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


class ScriptedTeacher:
    """``responder(body)`` for :class:`~verl_metaagent.testing.openai_server.FakeOpenAIServer`.

    Args:
        num_problems / num_designs / num_executions: the tree shape (to map seeds back).
        design_of: ``(problem index, j) -> DESIGNS key``.
        correct: ``(problem index, j, k) -> bool`` whether the agents answer correctly.
        faults: ``{(kind, problem, j): Reply}`` errors injected once for that designer request
            (kind ``"designer"``); a problem in ``always_fail`` gets HTTP 500 on every designer request.
        agent_delay: seconds every agent reply is delayed (slow teacher).
    """

    def __init__(self, num_problems: int, num_designs: int, num_executions: int, *, design_of: Callable,
                 correct: Callable, faults: Optional[dict] = None, always_fail: tuple = (), agent_delay: float = 0.0,
                 max_calls: int = 8):
        self.design_of, self.correct = design_of, correct
        self.faults = dict(faults or {})
        self.always_fail = set(always_fail)
        self.agent_delay = agent_delay
        self.lock = threading.Lock()
        self.designer_requests: dict = {}
        self.seeds: dict = {}
        for i in range(num_problems):
            key = f"index:{i}"
            for j in range(num_designs):
                self.seeds[derive_seed(0, 0, key, j)] = ("designer", i, j, None)
                for k in range(num_executions):
                    for c in range(max_calls):
                        self.seeds[derive_seed(0, 0, key, j, k, c)] = ("agent", i, j, k)

    def __call__(self, body: dict):
        kind, i, j, k = self.seeds[body["seed"]]
        if kind == "designer":
            with self.lock:
                self.designer_requests[(i, j)] = self.designer_requests.get((i, j), 0) + 1
                fault = self.faults.pop(("designer", i, j), None)
            if i in self.always_fail:
                return Reply(status=500, text="teacher overloaded")
            if fault is not None:
                return fault
            return DESIGNS[self.design_of(i, j)]
        question = next(m["content"] for m in body["messages"] if m["role"] == "user")
        a, b = _sum_of(question)
        total = a + b if self.correct(i, j, k) else a + b + 1
        return Reply(text=f"Adding (seed {body['seed']}): {a} + {b} = {total}. \\boxed{{{total}}}",
                     delay=self.agent_delay)


def teacher_args(server_url: str) -> list[str]:
    """CLI flags for the loopback teacher."""
    return ["--base-url", server_url, "--model", "fake-teacher", "--api-key-env", "", "--backoff-base", "0.01",
            "--backoff-cap", "0.05"]


def dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True)
