"""Hand-written reference designs (few-shot examples, fixed-workflow baselines, test fixtures).

Each design is a ``.py`` file in this folder written against :mod:`verl_metaagent.design.api`;
it is read as text (never imported). Add one by dropping a file here and listing it in
``REFERENCE_DESIGNS`` (see docs/design_api.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["REFERENCE_DESIGNS", "ReferenceDesign", "load_reference", "references_for"]

_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ReferenceDesign:
    """A reference design: ``name`` (= file stem), task types it fits, its structure ``pattern``
    (as :func:`verl_metaagent.design.classify.classify_design` reports it) and a one-line ``description``."""

    name: str
    task_types: tuple
    pattern: str
    description: str

    @property
    def code(self) -> str:
        """The script's source text."""
        return load_reference(self.name)


REFERENCE_DESIGNS: dict[str, ReferenceDesign] = {
    d.name: d
    for d in (
        ReferenceDesign("single_agent", ("math", "code"), "single", "one solver answers directly"),
        ReferenceDesign("self_reflection", ("math",), "reflection", "solver, critic, revision (at most 2 rounds)"),
        ReferenceDesign("ensemble_vote", ("math",), "ensemble", "three strategy-diverse solvers, majority vote"),
        ReferenceDesign("debate", ("math",), "debate", "two debaters, two rounds, a judge decides"),
        ReferenceDesign("plan_solve_verify", ("math",), "plan_verify", "planner, solver, verifier"),
        ReferenceDesign("code_generate_test_fix", ("code",), "code_test", "write code, run public tests, fix"),
    )
}


def load_reference(name: str) -> str:
    """Source text of reference design ``name``."""
    if name not in REFERENCE_DESIGNS:
        raise KeyError(f"unknown reference design {name!r}; known: {sorted(REFERENCE_DESIGNS)}")
    return (_DIR / f"{name}.py").read_text(encoding="utf-8")


def references_for(task_type: str) -> list[ReferenceDesign]:
    """Reference designs that fit ``task_type`` (``"math"`` or ``"code"``), in index order."""
    return [d for d in REFERENCE_DESIGNS.values() if task_type in d.task_types]
