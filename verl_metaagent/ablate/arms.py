"""The ablation arms: what each changes relative to the baseline (pure data, no imports of verl).

Every arm runs the ``family`` task (:mod:`verl_metaagent.demo.family`) through the CPU demo
(``python -m verl_metaagent.demo``, verl's v1 trainer in our trainer mode) with the same data,
warm start, steps and seeds; an arm differs from :data:`BASELINE` only in what it names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The baseline arm's name.
BASELINE = "alternate"


@dataclass(frozen=True)
class Arm:
    """One arm of the grid.

    Attributes:
        name: short id (``results.json``'s ``arm``).
        label: what the table shows.
        paper: the paper's claim the arm tests (or ``""``).
        designs / executions: M and N (default M=4, N=2: 8 executions per problem).
        phase_length: K for alternating phases; ``None`` = the grid's scaled K.
        overrides: extra Hydra overrides of the RL run.
    """

    name: str
    label: str
    paper: str = ""
    designs: int = 4
    executions: int = 2
    phase_length: int | None = None
    overrides: tuple[str, ...] = field(default_factory=tuple)

    def demo_args(self, scaled_k: int) -> list[str]:
        """The demo options that define this arm (before ``--``)."""
        k = self.phase_length if self.phase_length is not None else scaled_k
        return ["--designs", str(self.designs), "--executions", str(self.executions), "--phase-length", str(k)]

    def describe(self, scaled_k: int) -> str:
        k = self.phase_length if self.phase_length is not None else scaled_k
        parts = [f"M={self.designs} N={self.executions}", f"K={k}"] + list(self.overrides)
        return ", ".join(parts)


ARMS: dict[str, Arm] = {
    a.name: a
    for a in (
        Arm(BASELINE, "M4N2, alternate (scaled K), shared", "the method"),
        Arm("m8n1", "M8N1 (same 8 executions per problem)", "M4N4 beats M8N1 at the same rollout budget", designs=8,
            executions=1),
        Arm("k1", "alternate, K=1", "1-step switching collapses", phase_length=1),
        Arm("simultaneous", "simultaneous (both roles every step)", "stagewise beats simultaneous",
            overrides=("metaagent.phase.mode=simultaneous",)),
        Arm("designer_only", "designer only", "stagewise beats single-role training",
            overrides=("metaagent.phase.mode=designer_only",)),
        Arm("executor_only", "executor only", "stagewise beats single-role training",
            overrides=("metaagent.phase.mode=executor_only",)),
        Arm("separate", "separate parameters", "shared beats separate parameters",
            overrides=("metaagent.parameters=separate",)),
        Arm("flat_grpo", "flat GRPO over the same tree", "the hierarchical advantage beats flat GRPO",
            overrides=("metaagent.advantage.mode=flat_grpo", "metaagent.phase.mode=simultaneous")),
    )
}


def select_arms(names: str | None) -> list[Arm]:
    """The arms named in a comma-separated list (all if ``None``/empty); unknown names raise with the choices."""
    if not names:
        return list(ARMS.values())
    chosen = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name not in ARMS:
            raise ValueError(f"--arms: unknown arm {name!r}; choose from {', '.join(ARMS)}")
        chosen.append(ARMS[name])
    return chosen


def scaled_phase_length(steps: int, phases: int = 4) -> int:
    """K for a run of ``steps``: ``phases`` alternating phases in the run (at least 1 step each)."""
    return max(1, steps // max(1, phases))
