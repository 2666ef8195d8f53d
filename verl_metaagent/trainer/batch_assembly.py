"""Per-step batch assembly on verl's ``DataProto`` (no Ray): join, advantage, phase filter, padding.

A MetaAgent-X rollout returns a variable number of rows per problem (docs/architecture.md,
"Rollout rows"), so verl's ``batch.repeat(n).union(output)`` cannot be used. Instead, per step:

1. :func:`join_prompt_rows` copies each problem's prompt-side data (``reward_model``,
   ``extra_info``, ...) onto its rows through ``problem_index``;
2. :func:`attach_rewards_and_advantages` sets ``token_level_scores``/``token_level_rewards`` from
   ``rm_scores`` and computes the hierarchical advantages over *all* rows (both roles: the
   ``flat_grpo`` ablation mixes roles in one group);
3. :func:`filter_roles` keeps the rows of the roles trained in this phase;
4. :func:`plan_minibatches` + :func:`pad_rows` pad to a multiple of ``num_mini_batches x dp_size``
   with rows whose ``role="pad"``, ``response_mask`` all zero and advantage 0. verl's loss mask is
   the response mask and its token-mean normaliser counts masked tokens, so padding changes neither
   the loss nor the gradient.

:func:`assemble_step_batch` chains them and returns the metrics to log.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch

from verl.protocol import DataProto

from verl_metaagent.advantage.core import AdvantageConfig
from verl_metaagent.advantage.verl_glue import metaagent_advantage_tensors
from verl_metaagent.contract import (
    DESIGN_UID,
    EXEC_UID,
    PROBLEM_INDEX,
    REWARD,
    ROLE,
    ROLE_PAD,
    ROLES,
    TRAINED_ROLES,
    UID,
)
from verl_metaagent.phases import PhaseConfig, PhaseInfo, phase_at

PAD_ZERO_KEYS = ("response_mask", "advantages", "returns", "token_level_scores", "token_level_rewards", "rm_scores")


def join_prompt_rows(prompts: DataProto, rows: DataProto) -> DataProto:
    """Rows with their problem's prompt-side fields.

    Args:
        prompts: the step's input batch, ``P`` rows (one per problem) as the dataloader produced it.
        rows: rollout output, ``R`` rows with ``non_tensor_batch['problem_index']`` in ``[0, P)``.

    Returns:
        ``R`` rows: ``rows`` plus every prompt field the rows do not already carry (the rollout's
        values win, e.g. its ``uid``), selected per row by ``problem_index``.
    """
    if PROBLEM_INDEX not in rows.non_tensor_batch:
        raise KeyError(f"rollout rows need non_tensor_batch[{PROBLEM_INDEX!r}] (docs/architecture.md)")
    index = np.asarray(rows.non_tensor_batch[PROBLEM_INDEX]).astype(np.int64)
    if len(index) and (index.min() < 0 or index.max() >= len(prompts)):
        raise IndexError(f"problem_index out of range [0, {len(prompts)}): {index.min()}..{index.max()}")
    picked = prompts.select_idxs(index)
    tensor_keys = [] if picked.batch is None else [
        k for k in picked.batch.keys() if rows.batch is None or k not in rows.batch.keys()]
    extra_tensors = {k: picked.batch[k] for k in tensor_keys}
    extra_non_tensors = {k: v for k, v in picked.non_tensor_batch.items() if k not in rows.non_tensor_batch}
    out = DataProto(batch=rows.batch, non_tensor_batch=dict(rows.non_tensor_batch), meta_info=dict(rows.meta_info))
    for k, v in extra_tensors.items():
        out.batch[k] = v
    out.non_tensor_batch.update(extra_non_tensors)
    return out


def attach_rewards_and_advantages(batch: DataProto, adv_config: AdvantageConfig) -> dict[str, float]:
    """Set ``token_level_scores``, ``token_level_rewards`` (both ``(B, T)``, from ``rm_scores`` unless
    already present), ``advantages`` and ``returns`` (``(B, T)``, masked). Returns advantage stats."""
    if "token_level_scores" not in batch.batch.keys():
        batch.batch["token_level_scores"] = batch.batch["rm_scores"]
    if "token_level_rewards" not in batch.batch.keys():
        batch.batch["token_level_rewards"] = batch.batch["token_level_scores"]
    advantages, returns, stats = metaagent_advantage_tensors(
        batch.batch["token_level_rewards"], batch.batch["response_mask"], batch.non_tensor_batch, adv_config
    )
    batch.batch["advantages"] = advantages
    batch.batch["returns"] = returns
    return stats


def filter_roles(batch: DataProto, active_roles: Iterable[str]) -> DataProto:
    """Rows whose ``role`` is in ``active_roles`` (order kept). May return an empty selection."""
    keep = np.isin(np.asarray(batch.non_tensor_batch[ROLE], dtype=object), list(active_roles))
    return batch.select_idxs(keep)


@dataclass(frozen=True)
class MiniBatchPlan:
    """How one step's rows are padded and split.

    Attributes:
        rows: real rows.
        padded_rows: rows after padding (multiple of ``num_mini_batches * dp_size``).
        pad_rows: ``padded_rows - rows``.
        num_mini_batches: optimizer steps per PPO epoch.
        rows_per_mini_batch: global mini-batch size in rows (``padded_rows // num_mini_batches``).
    """

    rows: int
    padded_rows: int
    pad_rows: int
    num_mini_batches: int
    rows_per_mini_batch: int


def plan_minibatches(rows: int, dp_size: int, num_mini_batches: int, micro_batch_size: int = 1) -> MiniBatchPlan:
    """Pad ``rows`` to a multiple of ``num_mini_batches * dp_size * micro_batch_size``.

    ``num_mini_batches`` is lowered when needed so that every global mini-batch holds more rows than
    there are pad rows: then no mini-batch can be padding only (whose token-mean loss would be 0/0).

    Args:
        rows: real rows (>= 1).
        dp_size: data-parallel size of the actor (>= 1).
        num_mini_batches: requested optimizer steps per epoch (>= 1).
        micro_batch_size: ``ppo_micro_batch_size_per_gpu`` (verl's engine requires every rank's
            mini-batch to be a multiple of it unless ``use_dynamic_bsz``); 1 when dynamic.
    """
    if rows < 1 or dp_size < 1 or num_mini_batches < 1 or micro_batch_size < 1:
        raise ValueError(
            "need rows, dp_size, num_mini_batches, micro_batch_size >= 1; "
            f"got {rows}, {dp_size}, {num_mini_batches}, {micro_batch_size}"
        )
    for nm in range(num_mini_batches, 1, -1):
        unit = nm * dp_size * micro_batch_size
        padded = -(-rows // unit) * unit
        if padded // nm > padded - rows:
            return MiniBatchPlan(rows, padded, padded - rows, nm, padded // nm)
    # one mini-batch always holds a real row (then the global token count is > 0), even when it is
    # mostly padding because micro_batch_size * dp_size > rows
    unit = dp_size * micro_batch_size
    padded = -(-rows // unit) * unit
    return MiniBatchPlan(rows, padded, padded - rows, 1, padded)


def pad_rows(batch: DataProto, pad: int) -> DataProto:
    """``batch`` plus ``pad`` zero-weight rows.

    A pad row copies the tensors of a real row (so the model forward sees ordinary tokens) with
    ``response_mask``, rewards, advantages and returns zeroed; its ``role`` is ``"pad"``, its ``uid``
    unique (``"__pad__{i}"``), ``design_uid``/``exec_uid`` empty, ``metaagent_reward`` 0.

    Args:
        batch: ``B >= 1`` rows.
        pad: rows to add (>= 0).

    Returns:
        ``B + pad`` rows.
    """
    if pad == 0:
        return batch
    if len(batch) == 0:
        raise ValueError("cannot pad an empty batch")
    filler = batch.select_idxs(np.arange(pad) % len(batch))
    for key in PAD_ZERO_KEYS:
        if key in filler.batch.keys():
            filler.batch[key] = torch.zeros_like(filler.batch[key])
    ntb = filler.non_tensor_batch
    ntb[ROLE] = np.array([ROLE_PAD] * pad, dtype=object)
    ntb[UID] = np.array([f"__pad__{i}" for i in range(pad)], dtype=object)
    for key in (DESIGN_UID, EXEC_UID):
        if key in ntb:
            ntb[key] = np.array([""] * pad, dtype=object)
    if REWARD in ntb:
        ntb[REWARD] = np.zeros(pad, dtype=ntb[REWARD].dtype)
    merged = DataProto.concat([batch, filler])
    merged.meta_info = dict(batch.meta_info)
    return merged


@dataclass
class StepBatch:
    """Output of :func:`assemble_step_batch`.

    Attributes:
        batch: rows to train on (active roles + padding), or ``None`` when the phase has no rows.
        plan: padding / mini-batch plan (``None`` when ``batch`` is ``None``).
        phase: the step's :class:`PhaseInfo`.
        all_rows: every joined row with rewards and advantages (both roles; for metrics/dumps).
        metrics: ``metaagent/*`` metrics for verl's tracker.
    """

    batch: DataProto | None
    plan: MiniBatchPlan | None
    phase: PhaseInfo
    all_rows: DataProto
    metrics: dict[str, float] = field(default_factory=dict)


def _role_metrics(rows: DataProto, prefix: str) -> dict[str, float]:
    roles = np.asarray(rows.non_tensor_batch[ROLE], dtype=object)
    counts = Counter(roles.tolist())
    metrics = {f"{prefix}/rows_{r}": float(counts.get(r, 0)) for r in ROLES}
    if len(rows) == 0:
        return metrics
    scores = rows.batch["token_level_rewards"].sum(-1).float()
    adv = rows.batch["advantages"]
    mask = rows.batch["response_mask"].float()
    for role in TRAINED_ROLES:
        sel = torch.as_tensor(roles == role)
        if not bool(sel.any()):
            continue
        row_adv = (adv[sel] * mask[sel]).sum(-1) / mask[sel].sum(-1).clamp(min=1)
        metrics[f"{prefix}/{role}/reward_mean"] = float(scores[sel].mean())
        metrics[f"{prefix}/{role}/adv_mean"] = float(row_adv.mean())
        metrics[f"{prefix}/{role}/adv_std"] = float(row_adv.std(unbiased=False))
        metrics[f"{prefix}/{role}/response_tokens"] = float(mask[sel].sum())
    return metrics


def assemble_step_batch(
    prompts: DataProto,
    rollout_rows: DataProto,
    *,
    global_step: int,
    adv_config: AdvantageConfig,
    phase_config: PhaseConfig,
    dp_size: int,
    num_mini_batches: int,
    micro_batch_size: int = 1,
) -> StepBatch:
    """One step's training batch from the input problems and the rollout rows.

    Args:
        prompts: ``P`` problem rows (the dataloader batch, after verl's ``_get_gen_batch`` popped the
            generation fields; it keeps ``data_source``/``reward_model``/``extra_info``/``uid``).
        rollout_rows: ``R`` rows from ``HierarchicalAgentLoopManager.generate_sequences`` with tensors
            ``prompts``, ``responses``, ``response_mask`` ``(R, T)``, ``input_ids``, ``attention_mask``,
            ``position_ids``, ``rm_scores`` ``(R, T)`` and the non-tensor ids of docs/architecture.md.
        global_step: verl's 1-based ``global_steps``.
        adv_config / phase_config: the ``metaagent.advantage`` / ``metaagent.phase`` sections.
        dp_size: the actor's data-parallel size.
        num_mini_batches: requested optimizer steps per PPO epoch.
        micro_batch_size: the actor's ``ppo_micro_batch_size_per_gpu`` (1 with ``use_dynamic_bsz``).

    Returns:
        :class:`StepBatch`.
    """
    phase = phase_at(global_step, phase_config)
    rows = join_prompt_rows(prompts, rollout_rows)
    adv_stats = attach_rewards_and_advantages(rows, adv_config)
    metrics: dict[str, float] = {
        **phase.metrics(),
        "metaagent/adv/singleton_groups": adv_stats["singleton_groups"],
        "metaagent/adv/flat_groups": adv_stats["flat_groups"],
        "metaagent/adv/groups": adv_stats["groups"],
    }
    metrics.update(_role_metrics(rows, "metaagent/all"))
    trained = filter_roles(rows, phase.active_roles)
    if len(trained) == 0:
        metrics["metaagent/train/skipped_empty_phase"] = 1.0
        return StepBatch(None, None, phase, rows, metrics)
    plan = plan_minibatches(len(trained), dp_size, num_mini_batches, micro_batch_size)
    padded = pad_rows(trained, plan.pad_rows)
    metrics.update(_role_metrics(padded, "metaagent/train"))
    metrics["metaagent/train/num_mini_batches"] = float(plan.num_mini_batches)
    metrics["metaagent/train/rows_per_mini_batch"] = float(plan.rows_per_mini_batch)
    metrics["metaagent/train/skipped_empty_phase"] = 0.0
    return StepBatch(padded, plan, phase, rows, metrics)
