"""What one training step of the v1 MetaAgent-X trainer does with its sampled rows. Pure: no torch,
verl, ray or TransferQueue, so every decision here is unit-tested on hand-made rows.

Given the rows the replay buffer sampled for a step (one :class:`SampledRow` per TransferQueue
key), :func:`plan_step`

1. computes the hierarchical advantage of every row over *all* sampled rows (both roles: a
   design's group needs every design of its problem, the ``flat_grpo`` ablation mixes roles),
   before any filtering, so padding and the phase filter can never move a group's statistics;
2. keeps the rows of the roles trained at this step -- a row is trained only if its role is active
   both at the training step and at the step it was generated for (``generated_at``; equal in the
   sync trainer, different under async rollout), so a row generated in an executor phase is never
   trained in a designer phase;
3. splits the kept rows into *update passes*: ``separate`` (the release's behaviour and our
   default) gives each role its own actor update with its own token-mean normaliser; ``mixed``
   puts both roles of a ``simultaneous`` step into one loss.

:func:`mini_batches_for` sizes a pass: ``ceil(rows / rows_per_mini_batch)`` optimizer steps, so
the number of updates per training step grows with the rows, as in the release (16 rows per
optimizer step, one epoch).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal, Sequence

from verl_metaagent.advantage.core import AdvantageConfig, compute_advantages
from verl_metaagent.contract import ROLE_PAD, TRAINED_ROLES
from verl_metaagent.phases import PhaseConfig, PhaseInfo, phase_at
from verl_metaagent.utils.config_utils import require, section_loader

RolePasses = Literal["separate", "mixed"]
ROLE_PASSES = ("separate", "mixed")


@dataclass
class UpdateConfig:
    """``metaagent.actor_update``: how a step's trained rows become optimizer steps.

    Attributes:
        rows_per_mini_batch: rows per optimizer step (the release: 16 = ``ppo_mini_batch_size`` 16
            with ``n=1``). A pass of R rows takes ``ceil(R / rows_per_mini_batch)`` optimizer steps
            per PPO epoch (lowered only when data-parallel padding would leave a mini-batch without
            real rows). Replaces ``actor_rollout_ref.actor.ppo_mini_batch_size``, which counts
            problems and cannot follow the tree's variable row count.
        role_passes: ``separate`` (each trained role gets its own actor update, with its own
            token-mean normaliser; the release's behaviour) or ``mixed`` (both roles of a
            ``simultaneous`` step in one loss, where designer tokens are a small share).
    """

    rows_per_mini_batch: int = 16
    role_passes: RolePasses = "separate"

    def validate(self, path: str = "metaagent.actor_update") -> "UpdateConfig":
        require(
            isinstance(self.rows_per_mini_batch, int) and self.rows_per_mini_batch >= 1,
            f"{path}.rows_per_mini_batch",
            f"must be an integer >= 1, got {self.rows_per_mini_batch!r}",
            f"set {path}.rows_per_mini_batch=16 (the release's optimizer-step size in rows)",
        )
        require(
            self.role_passes in ROLE_PASSES,
            f"{path}.role_passes",
            f"must be one of {', '.join(ROLE_PASSES)}, got {self.role_passes!r}",
            f"set {path}.role_passes=separate",
        )
        return self


load_update_config = section_loader(UpdateConfig, "metaagent.actor_update")


@dataclass(frozen=True)
class SampledRow:
    """What the trainer knows about one sampled row (from its TransferQueue tag and ``extra_fields``).

    Attributes:
        key: the TransferQueue key ``{uid}_{session}_{index}``.
        role: ``designer`` / ``executor`` / ``pad``.
        uid / design_uid / exec_uid: tree ids (docs/architecture.md).
        reward: the row's reward (designer: mean of its executions; executor: its execution's).
        data_source: the problem's ``data_source``.
        generated_at: the training step the row's prompt was dispatched for.
        rowless_executions: on designer rows, ``(exec_uid, reward)`` of the design's executions that
            produced no rows; they still count in their executor group's statistics.
    """

    key: str
    role: str
    uid: str
    design_uid: str
    exec_uid: str
    reward: float
    data_source: str = ""
    generated_at: int = 0
    rowless_executions: tuple = ()  # designer rows: ((exec_uid, reward), ...) of executions without rows


@dataclass(frozen=True)
class UpdatePass:
    """One actor update of a step: its roles and the keys of its (unpadded) rows."""

    roles: tuple[str, ...]
    keys: tuple[str, ...]


@dataclass
class StepPlan:
    """Output of :func:`plan_step`.

    Attributes:
        phase: the step's phase.
        advantages: scalar advantage per key (every sampled key; 0 for pad rows).
        passes: the actor updates, in order (empty when the phase has no rows to train).
        untrained_keys: sampled keys no pass trains (off-phase or stale-phase rows).
        metrics: ``metaagent/*`` metrics of the step.
    """

    phase: PhaseInfo
    advantages: dict[str, float]
    passes: list[UpdatePass]
    untrained_keys: list[str]
    metrics: dict[str, float] = field(default_factory=dict)


def _trainable(row: SampledRow, phase: PhaseInfo, phase_config: PhaseConfig) -> bool:
    if row.role not in TRAINED_ROLES or not phase.is_active(row.role):
        return False
    return phase_at(max(int(row.generated_at), 0), phase_config).is_active(row.role)


def _reward_metrics(rows: Sequence[SampledRow]) -> dict[str, float]:
    """Mean reward by role and by (role, data_source), over sampled rows (each row once)."""
    sums: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row.role == ROLE_PAD:
            continue
        sums[f"metaagent/reward/{row.role}/mean"].append(row.reward)
        if row.data_source:
            sums[f"metaagent/reward/{row.role}/{row.data_source}/mean"].append(row.reward)
    return {k: sum(v) / len(v) for k, v in sums.items()}


def plan_step(
    rows: Sequence[SampledRow],
    *,
    global_step: int,
    adv_config: AdvantageConfig,
    phase_config: PhaseConfig,
    update_config: UpdateConfig,
) -> StepPlan:
    """Advantages, trained rows and update passes of one step (see the module docstring).

    Args:
        rows: the step's sampled rows, in sampling order.
        global_step: verl's 1-based training step.
        adv_config / phase_config / update_config: the ``metaagent`` sections.

    Returns:
        :class:`StepPlan`. Passes list their keys in sampling order.
    """
    phase = phase_at(global_step, phase_config)
    advantages: dict[str, float] = {}
    stats: dict[str, float] = {}
    if rows:
        values, stats = compute_advantages(
            [r.role for r in rows],
            [r.uid for r in rows],
            [r.design_uid for r in rows],
            [r.exec_uid for r in rows],
            [r.reward for r in rows],
            adv_config,
            rowless_executions=[
                (r.uid, r.design_uid, euid, reward) for r in rows for euid, reward in r.rowless_executions
            ],
        )
        advantages = {r.key: float(v) for r, v in zip(rows, values)}

    trained = [r for r in rows if _trainable(r, phase, phase_config)]
    trained_keys = {r.key for r in trained}
    if update_config.role_passes == "separate":
        passes = [
            UpdatePass((role,), tuple(r.key for r in trained if r.role == role))
            for role in TRAINED_ROLES
            if any(r.role == role for r in trained)
        ]
    else:
        roles = tuple(role for role in TRAINED_ROLES if any(r.role == role for r in trained))
        passes = [UpdatePass(roles, tuple(r.key for r in trained))] if trained else []

    metrics: dict[str, float] = {
        **phase.metrics(),
        "metaagent/train/skipped_empty_phase": float(not passes),
        "metaagent/train/update_passes": float(len(passes)),
    }
    for key in ("groups", "singleton_groups", "flat_groups"):
        if key in stats:
            metrics[f"metaagent/adv/{key}"] = stats[key]
    for role in TRAINED_ROLES:
        role_rows = [r for r in rows if r.role == role]
        role_trained = [r for r in trained if r.role == role]
        metrics[f"metaagent/all/rows_{role}"] = float(len(role_rows))
        metrics[f"metaagent/train/rows_{role}"] = float(len(role_trained))
        if role_rows:
            adv = [advantages[r.key] for r in role_rows]
            mean = sum(adv) / len(adv)
            metrics[f"metaagent/all/{role}/adv_mean"] = mean
            metrics[f"metaagent/all/{role}/adv_std"] = math.sqrt(sum((a - mean) ** 2 for a in adv) / len(adv))
            metrics[f"metaagent/all/{role}/reward_mean"] = sum(r.reward for r in role_rows) / len(role_rows)
    metrics.update(_reward_metrics(rows))
    untrained = [r.key for r in rows if r.key not in trained_keys]
    return StepPlan(phase, advantages, passes, untrained, metrics)


def mini_batches_for(rows: int, update_config: UpdateConfig) -> int:
    """Requested optimizer steps per epoch for a pass of ``rows`` rows: ``ceil(rows / rows_per_mini_batch)``."""
    return max(1, -(-int(rows) // update_config.rows_per_mini_batch))


__all__ = [
    "UpdateConfig",
    "SampledRow",
    "UpdatePass",
    "StepPlan",
    "plan_step",
    "mini_batches_for",
    "load_update_config",
    "ROLE_PASSES",
]
