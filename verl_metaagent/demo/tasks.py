"""The demo's tasks behind one interface: ``arith`` (the README demo) and ``family`` (the ablations).

A :class:`DemoTask` bundles what the warm start, the data writer, the RL overrides and the
teacher-forced report need from a task, so :mod:`verl_metaagent.demo.warmstart` and
:mod:`verl_metaagent.demo.cli` work on either. Neither torch nor verl is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from verl_metaagent.demo import family
from verl_metaagent.demo import task as arith


@dataclass(frozen=True)
class DemoTask:
    """One demo task.

    Attributes:
        name: ``--task`` value.
        fingerprint: what, besides the warm-start settings, defines its warm start (cache key).
        max_agent_calls: the rollout budget's agent calls (the largest design's calls + 1).
        warmstart_pool: ``seed -> problems`` the warm start trains on.
        train_problems: ``(n, seed) -> problems`` of the RL run (a subset of the pool, same seed).
        warmstart_samples: ``(problems, cfg) -> [WarmStartSample]``.
        tokenizer_corpus: ``problems -> [str]``, extra tokenizer-training text.
        probes: ``problems -> {name: [(messages, response)]}``; the report gives each name's mean
            exact probability; names starting with ``p_design_`` are designer probes.
        write_dataset: ``(path, problems)`` -> verl parquet.
    """

    name: str
    fingerprint: dict
    max_agent_calls: int
    warmstart_pool: Callable[[int], list]
    train_problems: Callable[[int, int], list]
    warmstart_samples: Callable
    tokenizer_corpus: Callable[[list], list]
    probes: Callable[[list], dict]
    write_dataset: Callable


def _arith_probes(problems: list) -> dict:
    out: dict = {f"p_design_{name}": [(arith.designer_messages(p), text) for p in problems]
                 for name, text in arith.DESIGNS.items()}
    out["p_executor_correct"] = [(arith.executor_messages(p), arith.boxed(p.answer)) for p in problems]
    return out


def _arith_samples(problems: list, cfg) -> list:
    return arith.warmstart_samples(
        problems,
        designer_per_problem=cfg.designer_per_problem,
        executor_per_problem=cfg.executor_per_problem,
        p_correct=cfg.p_correct,
        seed=cfg.seed,
    )


def _family_samples(problems: list, cfg) -> list:
    return family.warmstart_samples(
        problems,
        designer_per_problem=max(len(family.DESIGNS), cfg.designer_per_problem),
        executor_per_problem=cfg.executor_per_problem,
        seed=cfg.seed,
    )


#: Problems per kind in the family's warm-start pool (the RL problems are the first of them).
FAMILY_POOL_PER_KIND = 16

TASKS: dict[str, DemoTask] = {
    "arith": DemoTask(
        name="arith",
        fingerprint={"designs": arith.DESIGNS, "agent_prompt": arith.AGENT_PROMPT},
        max_agent_calls=arith.NUM_VOTERS + 1,
        warmstart_pool=lambda seed: arith.all_problems(),
        train_problems=lambda n, seed: arith.train_problems(n, seed=seed),
        warmstart_samples=_arith_samples,
        tokenizer_corpus=arith.tokenizer_corpus,
        probes=_arith_probes,
        write_dataset=arith.write_dataset,
    ),
    "family": DemoTask(
        name="family",
        fingerprint={
            "task": "family",
            "designs": family.DESIGNS,
            "skill": {k: [v.p_correct, v.shared_error, list(v.offsets)] for k, v in family.SKILL.items()},
            "pool_per_kind": FAMILY_POOL_PER_KIND,
        },
        max_agent_calls=family.NUM_VOTERS + 1,
        warmstart_pool=lambda seed: family.train_problems(FAMILY_POOL_PER_KIND, seed=seed),
        train_problems=lambda n, seed: family.train_problems(max(1, n // len(family.KINDS)), seed=seed),
        warmstart_samples=_family_samples,
        tokenizer_corpus=family.tokenizer_corpus,
        probes=family.probes,
        write_dataset=family.write_dataset,
    ),
}


def get_task(name: str) -> DemoTask:
    """The task called ``name`` (error names the choices)."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown demo task {name!r}; choose one of {', '.join(TASKS)}") from None
