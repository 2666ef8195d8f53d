"""A CPU-scale task family where different designs win in different regimes (the ablation task).

Three kinds of arithmetic problem, each its own ``data_source`` (graded by ``reward_fns``' math
grader, so rewards are logged per kind):

========  ==========================  ======================================================
kind      question                    what the warm-started executor can do
========  ==========================  ======================================================
easy      ``What is 3 + 5?``          one call is right often (:data:`SKILL` ``easy``)
hard      ``What is 23 + 45?``        one call is right rarely; wrong answers scatter
multi     ``What is 3 + 5 + 7?``      one call mostly forgets the last term (a *shared* error)
========  ==========================  ======================================================

The designer knows three designs (:data:`DESIGNS`): ``single`` (one agent), ``vote`` (five
independent agents, majority vote) and ``decompose`` (one agent adds the first two numbers, a
second agent adds the rest to that result). Nothing in the grader favours a design: every design
is graded on its final answer only. What makes a design good for a kind is what the executor
can and cannot do, fixed by the warm start's per-call skill (:data:`SKILL`):

* a vote fixes *scattered* errors (``hard``), and cannot fix a *shared* one (``multi``);
* decomposing turns a ``multi`` item into two ``easy``-like steps, and adds a step (and its
  errors) to a two-term item;
* on ``easy`` items all designs are decent; the vote's extra calls buy a little.

So the best design depends on the kind (by exact expected reward under the warm-start skill:
:func:`expected_design_reward`), and the designer's prompt shows the question, so a designer can
learn the kind -> design mapping; the executor can also learn each kind's sums. Warm-start
designer targets are uniform over the designs for every kind: any preference comes from RL.

Like :mod:`verl_metaagent.demo.task`, this module imports neither torch nor verl.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

from verl_metaagent.demo.task import WarmStartSample, boxed

#: The problem kinds, in report order.
KINDS = ("easy", "hard", "multi")

#: ``data_source`` prefix; a row's source is ``math/family_<kind>``.
SOURCE_PREFIX = "math/family_"

#: System prompts of the agents (the executor's prompt kinds).
DIRECT_PROMPT = "Add the numbers."
FIRST_PROMPT = "Add the first two numbers."
REST_PROMPT = "Add the other numbers to the result."

#: Voters in the vote design (the budget's ``max_agent_calls`` is this + 1).
NUM_VOTERS = 5

#: The designs (bare code; ``parse_design`` accepts it as is).
DESIGNS: dict[str, str] = {
    "single": (
        "from verl_metaagent.design.api import *\n"
        f'a = Agent("Solver", "{DIRECT_PROMPT}", sees_others=False)\n'
        "finish(a.ask())\n"
    ),
    "vote": (
        "from verl_metaagent.design.api import *\n"
        f's = [Agent(f"Solver{{i}}", "{DIRECT_PROMPT}", sees_others=False) for i in range({NUM_VOTERS})]\n'
        "finish(majority_vote([a.ask() for a in s]))\n"
    ),
    "decompose": (
        "from verl_metaagent.design.api import *\n"
        f'a = Agent("First", "{FIRST_PROMPT}", sees_others=False)\n'
        f'b = Agent("Rest", "{REST_PROMPT}")\n'
        "a.ask()\n"
        "finish(b.ask())\n"
    ),
}

#: ``classify_design`` label of each design (the rollout's ``metaagent/rollout/pattern/*`` metric).
DESIGN_PATTERNS = {"single": "single", "vote": "ensemble", "decompose": "other"}


@dataclass(frozen=True)
class Skill:
    """What one agent call returns after the warm start (its target distribution).

    Attributes:
        p_correct: share of targets with the correct value.
        shared_error: share answering one fixed wrong value (the same for every call), e.g. a
            forgotten last term; votes cannot fix it.
        offsets: the scattered wrong answers, value + offset, spread evenly over the rest.
    """

    p_correct: float
    shared_error: float = 0.0
    offsets: tuple[int, ...] = (1, -1, 2, -2, 3, -3)


#: Per-call skill of the warm-started executor, by prompt kind.
SKILL: dict[str, Skill] = {
    "direct_easy": Skill(0.6),
    "direct_hard": Skill(0.3, offsets=(1, -1, 2, -2, 10, -10, 11, -11)),
    "direct_multi": Skill(0.2, shared_error=0.6),
    "first_single_digit": Skill(0.6),  # = direct_easy: the same sum of two digits
    "first_hard": Skill(0.3, offsets=(1, -1, 2, -2, 10, -10, 11, -11)),  # = direct_hard
    "rest_add": Skill(0.8),  # result + the last digit
    "rest_copy": Skill(0.8),  # a two-term item: nothing to add, repeat the result
}


@dataclass(frozen=True)
class FamilyProblem:
    """One problem: the sum of ``terms`` of a given ``kind``."""

    terms: tuple[int, ...]
    kind: str

    @property
    def question(self) -> str:
        return "What is " + " + ".join(str(t) for t in self.terms) + "?"

    @property
    def answer(self) -> int:
        return sum(self.terms)

    @property
    def data_source(self) -> str:
        return SOURCE_PREFIX + self.kind

    @property
    def first_two(self) -> int:
        return self.terms[0] + self.terms[1]


def kind_problems(kind: str) -> list[FamilyProblem]:
    """Every problem of ``kind`` in a fixed order."""
    if kind == "easy":
        return [FamilyProblem((a, b), kind) for a in range(1, 10) for b in range(1, 10)]
    if kind == "hard":
        return [FamilyProblem((a, b), kind) for a in range(11, 50, 3) for b in range(12, 50, 3)]
    if kind == "multi":
        return [FamilyProblem(t, kind) for t in itertools.product(range(1, 10), repeat=3)]
    raise ValueError(f"unknown problem kind {kind!r}; expected one of {KINDS}")


def train_problems(per_kind: int, seed: int = 0) -> list[FamilyProblem]:
    """``per_kind`` distinct problems of each kind, drawn (seeded), kinds interleaved."""
    rng = random.Random(seed)
    chosen = []
    for kind in KINDS:
        pool = kind_problems(kind)
        rng.shuffle(pool)
        chosen.append(pool[: max(1, per_kind)])
    return [p for group in zip(*chosen) for p in group]


def call_skill(prompt: str, problem: FamilyProblem) -> tuple[str, int, Optional[int]]:
    """``(skill name, correct value, shared wrong value)`` of a first call with ``prompt``.

    For :data:`REST_PROMPT` the correct value depends on the previous agent's reply; see
    :func:`rest_target`.
    """
    if prompt == DIRECT_PROMPT:
        if problem.kind == "multi":
            return "direct_multi", problem.answer, problem.first_two
        return f"direct_{problem.kind}", problem.answer, None
    if prompt == FIRST_PROMPT:
        return ("first_hard" if problem.kind == "hard" else "first_single_digit"), problem.first_two, None
    raise ValueError(f"no skill for the prompt {prompt!r}")


def rest_target(problem: FamilyProblem, previous: int) -> tuple[str, int]:
    """``(skill name, correct value)`` of the second ``decompose`` agent given the first's value."""
    if len(problem.terms) > 2:
        return "rest_add", previous + sum(problem.terms[2:])
    return "rest_copy", previous


def _draws(skill: Skill, correct: int, shared: Optional[int], n: int, rng: random.Random) -> list[int]:
    """``n`` target values following ``skill`` exactly in proportion (rounded), shuffled."""
    n_correct = round(n * skill.p_correct)
    n_shared = round(n * skill.shared_error) if shared is not None else 0
    offsets = list(skill.offsets)
    rng.shuffle(offsets)
    values = [correct] * n_correct + [shared] * n_shared
    values += [correct + offsets[i % len(offsets)] for i in range(max(0, n - len(values)))]
    rng.shuffle(values)
    return values


def value_distribution(skill: Skill, correct: int, shared: Optional[int]) -> dict[int, float]:
    """The exact answer distribution of one call under ``skill`` (for expected rewards)."""
    dist: dict[int, float] = {correct: skill.p_correct}
    rest = 1.0 - skill.p_correct
    if shared is not None and skill.shared_error:
        dist[shared] = dist.get(shared, 0.0) + skill.shared_error
        rest -= skill.shared_error
    for off in skill.offsets:
        dist[correct + off] = dist.get(correct + off, 0.0) + rest / len(skill.offsets)
    return dist


def _vote_win_probability(dist: dict[int, float], correct: int, voters: int) -> float:
    """P(the majority vote of ``voters`` i.i.d. answers is ``correct``), exact enumeration.

    Ties are broken by first occurrence (``majority_vote``'s rule), counted here as the
    probability that ``correct`` is the first of the tied answers to appear.
    """
    values = list(dist)
    total = 0.0
    for seq in itertools.product(range(len(values)), repeat=voters):
        p = 1.0
        for i in seq:
            p *= dist[values[i]]
        if p == 0.0:
            continue
        counts: dict[int, int] = {}
        for i in seq:
            counts[i] = counts.get(i, 0) + 1
        top = max(counts.values())
        winner = next(i for i in seq if counts[i] == top)
        if values[winner] == correct:
            total += p
    return total


@lru_cache(maxsize=None)
def expected_design_reward(design: str, kind: str) -> float:
    """Exact expected reward of ``design`` on a ``kind`` item if every call follows :data:`SKILL`.

    This is what the warm start aims at, not a grader input: it documents which design is best
    per kind before RL (``docs/ablations.md``), and a test keeps the regimes distinct.
    """
    problem = kind_problems(kind)[0]
    if design in ("single", "vote"):
        name, correct, shared = call_skill(DIRECT_PROMPT, problem)
        dist = value_distribution(SKILL[name], correct, shared)
        return dist[correct] if design == "single" else _vote_win_probability(dist, correct, NUM_VOTERS)
    if design == "decompose":
        name, first_correct, _ = call_skill(FIRST_PROMPT, problem)
        total = 0.0
        for value, p in value_distribution(SKILL[name], first_correct, None).items():
            rest_name, target = rest_target(problem, value)
            if target == problem.answer:
                total += p * SKILL[rest_name].p_correct
        return total
    raise ValueError(f"unknown design {design!r}")


def best_design(kind: str) -> str:
    """The design with the highest :func:`expected_design_reward` on ``kind``."""
    return max(DESIGNS, key=lambda d: expected_design_reward(d, kind))


def designer_messages(problem: FamilyProblem) -> list[dict]:
    """The designer prompt exactly as the rollout builds it (``prompt_variant=short``)."""
    from verl_metaagent.design.prompts import build_designer_messages

    return build_designer_messages({"question": problem.question, "task_type": "math"}, "short")


def run_design(problem: FamilyProblem, design: str, reply: Callable[[list[dict]], str]) -> tuple[list[list[dict]], str]:
    """Run one of our own :data:`DESIGNS` in-process with the design API: ``(messages of every call, final answer)``.

    ``reply(messages) -> text`` answers each agent call. Only for these constant designs (the
    warm-start data, the probes and the tests); model-written designs run in the sandbox.
    """
    from verl_metaagent.design import _transport, api

    calls: list[list[dict]] = []
    final: list[str] = []
    saved = _transport.request

    def transport(op: str, payload: dict) -> dict:
        if op == "ask":
            messages = [dict(m) for m in payload["messages"]]
            calls.append(messages)
            return {"text": reply(messages)}
        if op == "final":
            final.append(str(payload.get("answer", "")))
        return {}

    _transport.request = transport  # type: ignore[assignment]
    try:
        api.configure(question=problem.question, task_type="math")
        exec(compile(DESIGNS[design], f"<design {design}>", "exec"), {})
    except SystemExit:
        pass
    finally:
        _transport.request = saved  # type: ignore[assignment]
        api.configure()
    return calls, (final[0] if final else "")


def agent_messages(problem: FamilyProblem, design: str, replies: Sequence[str] = ()) -> list[list[dict]]:
    """The messages of every agent call of ``design`` on ``problem``, built by the design API itself.

    The i-th call is answered with ``replies[i]`` (empty if missing), so the messages match what
    the sandboxed script sends (e.g. the second ``decompose`` agent sees the first's reply under
    "Outputs of other agents").
    """
    answers = iter(replies)
    return run_design(problem, design, lambda messages: next(answers, ""))[0]


def warmstart_samples(
    problems: Iterable[FamilyProblem],
    *,
    designer_per_problem: int = 6,
    executor_per_problem: int = 20,
    seed: int = 0,
) -> list[WarmStartSample]:
    """Supervised warm-start data for both roles (see the module docstring).

    * designer: the designer prompt -> each design equally often, for every problem;
    * executor, per problem: ``executor_per_problem`` targets for the direct prompt and for the
      first ``decompose`` agent, each following its :data:`SKILL`; and for the second agent,
      ``executor_per_problem`` targets after a first reply drawn from the first agent's skill.
    """
    rng = random.Random(seed)
    names = list(DESIGNS)
    out: list[WarmStartSample] = []
    for problem in problems:
        dmsgs = designer_messages(problem)
        for i in range(designer_per_problem):
            name = names[(i + problem.answer) % len(names)]
            out.append(WarmStartSample("designer", dmsgs, DESIGNS[name], name))
        for prompt, design in ((DIRECT_PROMPT, "single"), (FIRST_PROMPT, "decompose")):
            skill, correct, shared = call_skill(prompt, problem)
            msgs = agent_messages(problem, design)[0]
            for value in _draws(SKILL[skill], correct, shared, executor_per_problem, rng):
                out.append(WarmStartSample("executor", msgs, boxed(value), "correct" if value == correct else "wrong"))
        first_skill, first_correct, _ = call_skill(FIRST_PROMPT, problem)
        firsts = _draws(SKILL[first_skill], first_correct, None, executor_per_problem, rng)
        rest_name = rest_target(problem, 0)[0]
        rest_right = _draws(Skill(SKILL[rest_name].p_correct, offsets=(1,)), 1, None, executor_per_problem, rng)
        for first, right in zip(firsts, rest_right):
            target = rest_target(problem, first)[1]
            value = target if right == 1 else target + rng.choice(SKILL[rest_name].offsets)
            msgs = agent_messages(problem, "decompose", [boxed(first)])[1]
            out.append(WarmStartSample("executor", msgs, boxed(value), "correct" if value == target else "wrong"))
    rng.shuffle(out)
    return out


def tokenizer_corpus(problems: Iterable[FamilyProblem], repeats: int = 20) -> list[str]:
    """Extra tokenizer-training text so the family's texts encode in few tokens."""
    lines: list[str] = []
    for _ in range(repeats):
        lines.extend(DESIGNS.values())
    for problem in problems:
        lines.append(designer_messages(problem)[0]["content"])
        lines.append("Question:\n" + problem.question)
        lines.append(DIRECT_PROMPT + " " + FIRST_PROMPT + " " + REST_PROMPT + " " + boxed(problem.answer))
        lines.append("Outputs of other agents:\n[First]:\n" + boxed(problem.first_two))
    return lines


def probes(problems: Sequence[FamilyProblem]) -> dict[str, list[tuple[list[dict], str]]]:
    """Teacher-forced probes: name -> ``(messages, exact response)`` pairs whose mean probability is reported.

    ``p_design_<design>_<kind>``: the designer writes that design verbatim on a ``kind`` item;
    ``p_call_<prompt>_<kind>``: an agent call answers exactly ``\\boxed{correct}`` (the direct
    prompt; the first / second ``decompose`` agent, the second after a correct first reply).
    """
    out: dict[str, list[tuple[list[dict], str]]] = {}
    for problem in problems:
        dmsgs = designer_messages(problem)
        for name, text in DESIGNS.items():
            out.setdefault(f"p_design_{name}_{problem.kind}", []).append((dmsgs, text))
        direct = agent_messages(problem, "single")[0]
        out.setdefault(f"p_call_direct_{problem.kind}", []).append((direct, boxed(problem.answer)))
        first, rest = agent_messages(problem, "decompose", [boxed(problem.first_two)])
        out.setdefault(f"p_call_first_{problem.kind}", []).append((first, boxed(problem.first_two)))
        out.setdefault(f"p_call_rest_{problem.kind}", []).append((rest, boxed(problem.answer)))
    return out


def write_dataset(path: Path, problems: list[FamilyProblem], split: str = "train") -> None:
    """Write ``problems`` as verl parquet rows (``data_source`` = ``math/family_<kind>``)."""
    import pandas as pd

    rows = []
    for i, problem in enumerate(problems):
        rows.append(
            {
                "data_source": problem.data_source,
                "prompt": [{"role": "user", "content": problem.question}],
                "ability": "math",
                "reward_model": {"style": "rule", "ground_truth": str(problem.answer)},
                "extra_info": {"index": i, "question": problem.question, "task_type": "math", "split": split,
                               "kind": problem.kind},
            }
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
