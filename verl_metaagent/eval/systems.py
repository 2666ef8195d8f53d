"""The systems compared in one evaluation table, and how each one solves a problem.

=================  ==========================================================================
system id          what it runs (all through :func:`verl_metaagent.solve.solve_async`)
=================  ==========================================================================
``single_agent``   the ``single_agent`` reference design: one call, the model answers directly
``cot_sc``         chain-of-thought self-consistency: ``k`` independent single-agent samples
                   (``sc_temperature``) and a majority vote over their answers. ``k`` matches
                   MetaAgent-X's LLM-call budget (:func:`matched_sc_k`) unless ``--sc-k`` is given,
                   so a multi-agent gain is only claimed when it beats the same number of calls
                   spent on plain voting
``ref:<name>``     one fixed reference design (a fixed-workflow multi-agent baseline), on the
                   benchmarks whose task type it was written for (``refs`` = all of them)
``metaagent``      MetaAgent-X: the model designs a system for the problem, then executes it
=================  ==========================================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Optional

from verl_metaagent.eval.benchmarks import EvalProblem
from verl_metaagent.eval.settings import EvalSettings

__all__ = ["System", "parse_systems", "matched_sc_k", "solve_kwargs", "all_systems"]


@dataclass(frozen=True)
class System:
    """One row of the results table.

    Attributes:
        id: ``single_agent``, ``cot_sc``, ``ref:<name>`` or ``metaagent`` (records and CLI).
        label: the table's row label.
        kind: ``fixed`` (a given design), ``cot_sc`` or ``metaagent``.
        reference: the reference design a ``fixed`` / ``cot_sc`` system executes.
        task_types: task types the system applies to (other benchmarks show "-").
        pattern: the structure class of a fixed design.
    """

    id: str
    label: str
    kind: str
    reference: Optional[str] = None
    task_types: tuple = ("math", "code")
    pattern: str = ""

    def applies_to(self, task_type: str) -> bool:
        """Whether this system runs on a benchmark of ``task_type``."""
        return task_type in self.task_types


def _reference_systems() -> list[System]:
    from verl_metaagent.design.reference import REFERENCE_DESIGNS

    return [
        System(f"ref:{d.name}", f"Fixed: {d.name} ({d.pattern})", "fixed", d.name, tuple(d.task_types), d.pattern)
        for d in REFERENCE_DESIGNS.values()
        if d.name != "single_agent"
    ]


SINGLE = System("single_agent", "Single agent", "fixed", "single_agent", ("math", "code"), "single")
COT_SC = System("cot_sc", "CoT self-consistency (matched calls)", "cot_sc", "single_agent", ("math", "code"),
                "ensemble")
METAAGENT = System("metaagent", "MetaAgent-X (design + execute)", "metaagent")


def all_systems() -> list[System]:
    """Every system in table order: single agent, CoT-SC, each fixed reference design, MetaAgent-X."""
    return [SINGLE, COT_SC, *_reference_systems(), METAAGENT]


def parse_systems(spec: str) -> list[System]:
    """Systems from a comma list: ``all``, ``single_agent``, ``cot_sc``, ``refs``, ``ref:<name>``, ``metaagent``.

    Returned in table order without duplicates; an unknown name raises ``ValueError`` listing the choices.
    """
    known = {s.id: s for s in all_systems()}
    chosen: set[str] = set()
    for raw in (spec or "").split(","):
        name = raw.strip()
        if not name:
            continue
        if name == "all":
            chosen.update(known)
        elif name == "refs":
            chosen.update(k for k in known if k.startswith("ref:"))
        elif name in known:
            chosen.add(name)
        elif f"ref:{name}" in known:
            chosen.add(f"ref:{name}")
        else:
            raise ValueError(f"--systems: unknown system {name!r}; choose from all, refs, {', '.join(known)}")
    if not chosen:
        raise ValueError("--systems is empty; e.g. --systems single_agent,cot_sc,refs,metaagent")
    return [s for s in all_systems() if s.id in chosen]


def matched_sc_k(metaagent_calls: Iterable[float]) -> Optional[int]:
    """Votes of CoT self-consistency at MetaAgent-X's budget on one benchmark.

    ``k = max(1, floor(mean + 0.5))`` of MetaAgent-X's LLM calls per attempt (designer call
    included, invalid designs included), i.e. the mean rounded half up. ``None`` without data.
    """
    calls = [float(c) for c in metaagent_calls]
    if not calls:
        return None
    return max(1, int(math.floor(sum(calls) / len(calls) + 0.5)))


def solve_kwargs(system: System, problem: EvalProblem, sample: int, settings: EvalSettings, *,
                 sc_k: Optional[int] = None) -> dict:
    """Keyword arguments of :func:`verl_metaagent.solve.solve_async` for one attempt.

    Attempt ``sample`` of a problem gets its own seeds through the problem uid's ``#s<sample>``
    suffix (``ProblemSpec.seed_key``), so attempts differ when sampling is on and repeat exactly
    on a rerun.
    """
    from verl_metaagent.design.reference import load_reference
    from verl_metaagent.rollout.config import SamplingConfig
    from verl_metaagent.solve import solve_config

    spec = problem.spec
    sampling = SamplingConfig(temperature=settings.temperature, top_p=settings.top_p)
    design = None
    if system.kind == "fixed":
        config = solve_config(num_designs=1, num_executions=1, executor_sampling=sampling, designer_sampling=sampling,
                              budget=settings.budget, seed=settings.seed)
        design = load_reference(system.reference)
    elif system.kind == "cot_sc":
        if not sc_k or sc_k < 1:
            raise ValueError("cot_sc needs its number of votes (sc_k >= 1)")
        votes = SamplingConfig(temperature=settings.sc_temperature, top_p=settings.top_p)
        config = solve_config(num_designs=1, num_executions=sc_k, select="majority", executor_sampling=votes,
                              designer_sampling=votes, budget=settings.budget, seed=settings.seed)
        design = load_reference(system.reference)
    elif system.kind == "metaagent":
        config = solve_config(num_designs=settings.num_designs, num_executions=settings.num_executions,
                              select=settings.select, prompt_variant=settings.prompt_variant,
                              designer_sampling=sampling, executor_sampling=sampling, budget=settings.budget,
                              seed=settings.seed)
    else:
        raise ValueError(f"unknown system kind {system.kind!r}")
    from verl_metaagent.rollout.code_tests import api_test_runner_factory

    return dict(
        # every task type: math designs run code too (the release's python_execute tool), as in training
        test_runner_factory=api_test_runner_factory(),
        question=spec.question,
        task_type=spec.task_type,
        data_source=spec.data_source,
        ground_truth=spec.ground_truth,
        extra_info=dict(spec.extra_info),
        design=design,
        max_tokens=settings.max_tokens,
        config=config,
        uid=f"{problem.benchmark}/{problem.problem_id}#s{sample}",
    )
