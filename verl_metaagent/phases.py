"""Stagewise co-evolution: which role is trained at a given global step. Pure; no torch/verl/ray.

The phase is a pure function of ``(global_step, PhaseConfig)``, so a run resumed from a
checkpoint at step s continues in exactly the phase (and step within it) it would have reached.

Step convention: verl's ``RayPPOTrainer.fit`` counts training steps from 1 (``global_steps`` is 0
only for the validation before training; a checkpoint ``global_step_s`` resumes at step ``s + 1``).
:func:`phase_at` takes that 1-based step and schedules on ``step - 1``, so the first K training steps
(1..K) are phase 0. The public release's formula ``phase = (global_step // K) % 2`` was applied to a
0-based step counter; with ``first_role=executor`` ours gives the same role sequence: K executor
steps, then K designer steps, and so on (K=1 alternates every step, which the paper reports collapses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from verl_metaagent.contract import ROLE_DESIGNER, ROLE_EXECUTOR
from verl_metaagent.utils.config_utils import require, section_loader

PhaseMode = Literal["alternate", "simultaneous", "designer_only", "executor_only"]
FirstRole = Literal["executor", "designer"]
PHASE_MODES = ("alternate", "simultaneous", "designer_only", "executor_only")


@dataclass
class PhaseConfig:
    """``metaagent.phase``: which role(s) receive gradient updates at each step.

    Both roles are always rolled out (a design's reward needs its executions); the phase only
    decides whose rows enter the policy update.

    Attributes:
        mode: ``alternate`` (K steps of one role, then K of the other; the paper), ``simultaneous``
            (both every step), ``designer_only``, ``executor_only``.
        phase_length: K, steps per phase in ``alternate`` mode (paper: 30). Must be >= 1.
        first_role: role trained in the first phase of ``alternate`` mode (paper: ``executor``).
    """

    mode: PhaseMode = "alternate"
    phase_length: int = 30
    first_role: FirstRole = "executor"

    def validate(self, path: str = "metaagent.phase") -> "PhaseConfig":
        require(
            self.mode in PHASE_MODES,
            f"{path}.mode",
            f"must be one of {', '.join(PHASE_MODES)}, got {self.mode!r}",
            f"set {path}.mode=alternate (the paper's stagewise co-evolution)",
        )
        require(
            isinstance(self.phase_length, int) and self.phase_length >= 1,
            f"{path}.phase_length",
            f"must be an integer >= 1, got {self.phase_length!r}",
            f"set {path}.phase_length=30 (the paper's K)",
        )
        require(
            self.first_role in (ROLE_EXECUTOR, ROLE_DESIGNER),
            f"{path}.first_role",
            f"must be 'executor' or 'designer', got {self.first_role!r}",
            f"set {path}.first_role=executor",
        )
        return self


load_phase_config = section_loader(PhaseConfig, "metaagent.phase")


@dataclass(frozen=True)
class PhaseInfo:
    """The schedule at one step.

    Attributes:
        active_roles: roles whose rows are trained at this step (tuple of ``"designer"``/``"executor"``).
        phase_index: 0-based index of the phase (``alternate``: ``(step-1) // K``; other modes: 0).
        step_in_phase: 0-based position of the step inside its phase (other modes: ``step - 1``).
        phase_length: K (``alternate``) or 0 (other modes: one unbounded phase).
        mode: the schedule mode.
    """

    active_roles: tuple[str, ...]
    phase_index: int
    step_in_phase: int
    phase_length: int
    mode: str

    @property
    def name(self) -> str:
        """``"executor"``, ``"designer"`` or ``"designer+executor"`` (for logs)."""
        return "+".join(sorted(self.active_roles))

    def is_active(self, role: str) -> bool:
        """Whether rows of ``role`` are trained at this step."""
        return role in self.active_roles

    def metrics(self) -> dict[str, float]:
        """The step's ``metaagent/phase/*`` metrics for verl's tracker."""
        return {
            "metaagent/phase/index": float(self.phase_index),
            "metaagent/phase/step_in_phase": float(self.step_in_phase),
            "metaagent/phase/trains_designer": float(self.is_active(ROLE_DESIGNER)),
            "metaagent/phase/trains_executor": float(self.is_active(ROLE_EXECUTOR)),
        }


def phase_at(global_step: int, cfg: PhaseConfig | None = None) -> PhaseInfo:
    """The phase of 1-based training step ``global_step`` (verl's ``trainer.global_steps``).

    Args:
        global_step: int >= 1. (0, verl's value during the initial validation, is treated as 1.)
        cfg: schedule; defaults to :class:`PhaseConfig()` (alternate, K=30, executor first).

    Returns:
        :class:`PhaseInfo`.

    Raises:
        ConfigError: invalid ``cfg`` (names the key and the fix).
        ValueError: negative ``global_step``.
    """
    cfg = (cfg or PhaseConfig()).validate()
    if global_step < 0:
        raise ValueError(f"global_step must be >= 0, got {global_step}")
    step0 = max(int(global_step), 1) - 1
    if cfg.mode == "simultaneous":
        return PhaseInfo((ROLE_DESIGNER, ROLE_EXECUTOR), 0, step0, 0, cfg.mode)
    if cfg.mode == "designer_only":
        return PhaseInfo((ROLE_DESIGNER,), 0, step0, 0, cfg.mode)
    if cfg.mode == "executor_only":
        return PhaseInfo((ROLE_EXECUTOR,), 0, step0, 0, cfg.mode)
    k = cfg.phase_length
    phase_index, step_in_phase = divmod(step0, k)
    second = ROLE_DESIGNER if cfg.first_role == ROLE_EXECUTOR else ROLE_EXECUTOR
    role = cfg.first_role if phase_index % 2 == 0 else second
    return PhaseInfo((role,), phase_index, step_in_phase, k, cfg.mode)
