"""The demo's built-in task: single-digit additions where the design matters.

The executor (the model answering an agent call) is warm-started to be *noisy*: asked
``What is 3 + 5?`` it answers ``\\boxed{8}`` only part of the time and a nearby wrong sum
otherwise. A design that asks one agent is then right about as often as one call; a design that
asks several independent agents and takes the majority vote is right more often. So

* the **designer** can raise its reward by writing the vote design more often, and
* the **executor** can raise its reward (and every design's) by answering correctly more often.

This module holds the problems, the two reference designs the designer is warm-started on, the
exact prompts the rollout builds for both roles, and the warm-start samples built from them.
It imports neither torch nor verl.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

#: ``data_source`` of the demo rows (graded by ``reward_fns``' ``math/*`` grader).
DATA_SOURCE = "math/demo_arith"

#: System prompt of every agent in the demo designs (the executor prompt is this + the question).
AGENT_PROMPT = "Add the numbers."

#: Voters in the vote design.
NUM_VOTERS = 5

#: The designs the designer is warm-started on (bare code: ``parse_design`` accepts it as is).
#: Both give every agent the same system prompt and hide other agents' outputs
#: (``sees_others=False``), so every agent call of both designs is the same executor prompt.
#: Replies are passed on whole (the grader and ``normalize_answer`` read ``\boxed{}``): a
#: malformed reply is then a wrong vote, not an abstention. (With ``extract_answer`` first, a
#: malformed reply would drop out of the vote, and RL on the vote design learned to "abstain"
#: with malformed replies.)
DESIGNS: dict[str, str] = {
    "single": (
        "from verl_metaagent.design.api import *\n"
        f'a = Agent("Solver", "{AGENT_PROMPT}", sees_others=False)\n'
        "finish(a.ask())\n"
    ),
    "vote": (
        "from verl_metaagent.design.api import *\n"
        f's = [Agent(f"Solver{{i}}", "{AGENT_PROMPT}", sees_others=False) for i in range({NUM_VOTERS})]\n'
        "finish(majority_vote([a.ask() for a in s]))\n"
    ),
}

#: ``classify_design`` label of each design (the rollout's ``metaagent/rollout/pattern/*`` metric).
DESIGN_PATTERNS = {"single": "single", "vote": "ensemble"}


@dataclass(frozen=True)
class Problem:
    """One addition problem ``a + b``."""

    a: int
    b: int

    @property
    def question(self) -> str:
        """The question text (what the designer and every agent see)."""
        return f"What is {self.a} + {self.b}?"

    @property
    def answer(self) -> int:
        """The correct sum."""
        return self.a + self.b


def all_problems() -> list[Problem]:
    """All 81 problems ``a + b`` with ``a, b`` in 1..9, in a fixed order."""
    return [Problem(a, b) for a in range(1, 10) for b in range(1, 10)]


def train_problems(n: int, seed: int = 0) -> list[Problem]:
    """``n`` distinct problems drawn (seeded) from :func:`all_problems` (the RL training set)."""
    problems = all_problems()
    rng = random.Random(seed)
    rng.shuffle(problems)
    return sorted(problems[: max(1, min(n, len(problems)))], key=lambda p: (p.a, p.b))


def boxed(value: int) -> str:
    """The executor's answer format: ``\\boxed{value}``."""
    return "\\boxed{" + str(value) + "}"


def designer_messages(problem: Problem) -> list[dict]:
    """The designer prompt exactly as the rollout builds it (``prompt_variant=short``)."""
    from verl_metaagent.design.prompts import build_designer_messages

    return build_designer_messages({"question": problem.question, "task_type": "math"}, "short")


def executor_messages(problem: Problem) -> list[dict]:
    """The messages of the first (and only) call of any agent in :data:`DESIGNS`.

    Built by the design API itself (``Agent.ask`` of ``verl_metaagent.design.api``) with the
    transport replaced by a recorder, so they match what the sandboxed script sends.
    """
    from verl_metaagent.design import _transport, api

    captured: list[dict] = []
    saved = _transport.request

    def record(op: str, payload: dict) -> dict:
        if op == "ask":
            captured.append(payload)
        return {"text": ""}

    _transport.request = record  # type: ignore[assignment]
    try:
        api.configure(question=problem.question, task_type="math")
        api.Agent("Solver", AGENT_PROMPT, sees_others=False).ask()
    finally:
        _transport.request = saved  # type: ignore[assignment]
        api.configure()
    return [dict(m) for m in captured[0]["messages"]]


@dataclass
class WarmStartSample:
    """One supervised sample: chat ``messages`` (the prompt) and the target ``response`` text."""

    role: str  # "designer" | "executor"
    messages: list[dict]
    response: str
    label: str  # design name (designer) or "correct"/"wrong" (executor)


def warmstart_samples(
    problems: Iterable[Problem],
    *,
    designer_per_problem: int = 4,
    executor_per_problem: int = 16,
    p_correct: float = 0.5,
    max_offset: int = 3,
    seed: int = 0,
) -> list[WarmStartSample]:
    """Supervised warm-start data for both roles on ``problems``.

    * designer: the designer prompt -> one of :data:`DESIGNS`, alternating so that each design
      is the target equally often for every problem (the warm-started designer picks each with
      about the same probability);
    * executor: the agent prompt -> ``\\boxed{sum}`` for a share ``p_correct`` of each problem's
      samples, else a wrong sum off by ``±1..max_offset`` (each offset about equally often): the
      warm-started executor is noisy and its wrong answers disagree, so a vote beats a single call.
    """
    rng = random.Random(seed)
    names = sorted(DESIGNS)
    out: list[WarmStartSample] = []
    for problem in problems:
        dmsgs = designer_messages(problem)
        for i in range(designer_per_problem):
            name = names[(i + problem.a + problem.b) % len(names)]
            out.append(WarmStartSample("designer", dmsgs, DESIGNS[name], name))
        emsgs = executor_messages(problem)
        n_correct = round(executor_per_problem * p_correct)
        offsets = [d * s for d in range(1, max_offset + 1) for s in (1, -1)]
        rng.shuffle(offsets)
        for i in range(executor_per_problem):
            value = problem.answer if i < n_correct else problem.answer + offsets[(i - n_correct) % len(offsets)]
            out.append(
                WarmStartSample("executor", emsgs, boxed(value), "correct" if value == problem.answer else "wrong"))
    rng.shuffle(out)
    return out


def tokenizer_corpus(problems: Optional[Iterable[Problem]] = None, repeats: int = 20) -> list[str]:
    """Extra tokenizer-training text (designs, prompts, answers) so the demo's texts encode in few tokens."""
    problems = list(problems) if problems is not None else all_problems()
    lines: list[str] = []
    for _ in range(repeats):
        lines.extend(DESIGNS.values())
    for problem in problems:
        lines.append(designer_messages(problem)[0]["content"])
        lines.append("Question:\n" + problem.question)
        lines.append(AGENT_PROMPT + " " + boxed(problem.answer))
    return lines


def write_dataset(path: Path, problems: list[Problem], split: str = "train") -> None:
    """Write ``problems`` as verl parquet rows (``prompt`` = the question; ground truth = the sum)."""
    import pandas as pd

    rows = []
    for i, problem in enumerate(problems):
        rows.append(
            {
                "data_source": DATA_SOURCE,
                "prompt": [{"role": "user", "content": problem.question}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": str(problem.answer)},
                "extra_info": {"index": i, "question": problem.question, "task_type": "math", "split": split},
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
