"""Hierarchical (MetaAgent-X) advantages as pure numpy functions. No torch, verl or ray.

Input is one entry per training row of a batch (shape ``(B,)`` each), with the row schema of
docs/architecture.md:

* ``role``: ``"designer"``, ``"executor"`` or ``"pad"`` (trainer padding rows),
* ``uid``: problem id, ``design_uid``: ``"{uid}/d{j}"``, ``exec_uid``: ``"{uid}/d{j}/e{k}"``
  (``""`` on designer rows),
* ``reward``: the row's scalar reward (designer: mean of its N execution rewards, or the format
  reward of an invalid design; executor: its execution's reward r_jk).

Output is one scalar advantage per row, ``(B,)`` float64.

Modes (``AdvantageConfig.mode``):

``hierarchical`` (default, the paper's method)
    *Designer rows* are normalised within their problem: the group is the problem's M designs
    (one value per ``design_uid``), so invalid designs (format reward) count in the group.
    *Executor rows* are normalised within ``executor_group``: ``problem`` = all M x N executions
    of the problem (the public release's "question" mode), ``design`` = the N executions of the
    row's design. The statistics are taken over *units*: with ``executor_stats=per_execution``
    one value per ``exec_uid`` (an execution that made 12 agent calls weighs like one that made 1);
    with ``per_sample`` one value per row (reproduces the public release).

``flat_grpo`` (ablation: "GRPO over the same tree, without the hierarchy")
    Every non-pad row of a problem, designer or executor, joins ONE group per problem, exactly
    as if the tree's rows were the ``rollout.n`` samples of a plain GRPO prompt. Units follow
    ``executor_stats``: ``per_sample`` = one value per row (what verl's ``grpo`` estimator would
    compute with ``index=uid``); ``per_execution`` = one value per design (its designer row) and
    one per execution (shared by that execution's rows). ``executor_group`` is ignored.

Normalisation of a row with unit value ``r`` in a group with unit values ``G``:
``(r - mean(G)) / (std(G) + epsilon)`` if ``norm_by_std`` else ``r - mean(G)``; ``std`` uses
``std_ddof`` (1 = verl GRPO's ``torch.std``, 0 = population std). A group with fewer than two units
gives advantage 0 to its rows (verl's GRPO would give a singleton its raw reward); a group whose
units are all equal gives exactly 0. Pad rows get 0 and never join a group.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

from verl_metaagent.contract import ROLE_DESIGNER, ROLE_EXECUTOR, ROLE_PAD, ROLES
from verl_metaagent.utils.config_utils import require, section_loader

ExecutorGroup = Literal["problem", "design"]
ExecutorStats = Literal["per_execution", "per_sample"]
AdvantageMode = Literal["hierarchical", "flat_grpo"]


@dataclass
class AdvantageConfig:
    """``metaagent.advantage``: how rewards of the design-execute tree become advantages.

    Attributes:
        executor_group: ``problem`` normalises an executor row among all M x N executions of its
            problem (public release default); ``design`` among the N executions of its design.
        executor_stats: ``per_execution`` (default) computes group mean/std over executions, one
            value per ``exec_uid``; ``per_sample`` over rows (agent calls), as the public release does.
        norm_by_std: divide by the group std (GRPO); ``false`` = mean-centering only (Dr.GRPO).
        epsilon: added to the std before dividing.
        std_ddof: delta degrees of freedom of the std (1 matches verl's GRPO, 0 = population std).
        mode: ``hierarchical`` (the paper) or ``flat_grpo`` (ablation, see module docstring).
    """

    executor_group: ExecutorGroup = "problem"
    executor_stats: ExecutorStats = "per_execution"
    norm_by_std: bool = True
    epsilon: float = 1.0e-6
    std_ddof: int = 1
    mode: AdvantageMode = "hierarchical"

    def validate(self, path: str = "metaagent.advantage") -> "AdvantageConfig":
        """Check values (Literal fields are checked here too, for configs built by hand)."""
        require(
            self.executor_group in ("problem", "design"),
            f"{path}.executor_group",
            f"must be 'problem' or 'design', got {self.executor_group!r}",
            f"set {path}.executor_group=problem",
        )
        require(
            self.executor_stats in ("per_execution", "per_sample"),
            f"{path}.executor_stats",
            f"must be 'per_execution' or 'per_sample', got {self.executor_stats!r}",
            f"set {path}.executor_stats=per_execution",
        )
        require(
            self.mode in ("hierarchical", "flat_grpo"),
            f"{path}.mode",
            f"must be 'hierarchical' or 'flat_grpo', got {self.mode!r}",
            f"set {path}.mode=hierarchical",
        )
        require(self.epsilon >= 0, f"{path}.epsilon", f"must be >= 0, got {self.epsilon}", f"set {path}.epsilon=1e-6")
        require(
            self.epsilon > 0 or not self.norm_by_std,
            f"{path}.epsilon",
            "must be > 0 when norm_by_std is true (a group with std 0 would divide by zero)",
            f"set {path}.epsilon=1e-6",
        )
        require(self.std_ddof in (0, 1), f"{path}.std_ddof", f"must be 0 or 1, got {self.std_ddof}",
                f"set {path}.std_ddof=1")
        return self


load_advantage_config = section_loader(AdvantageConfig, "metaagent.advantage")


def _as_str_array(values: Sequence, name: str, size: int) -> np.ndarray:
    arr = np.asarray([("" if v is None else str(v)) for v in values], dtype=object)
    if arr.shape != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {arr.shape}")
    return arr


def _group_stats(values: np.ndarray, cfg: AdvantageConfig) -> tuple[float, float] | None:
    """(mean, scale) of one group's unit values, or None for a degenerate (< 2 units) group."""
    if values.size < 2:
        return None
    mean = float(values.mean())
    if not cfg.norm_by_std:
        return mean, 1.0
    std = float(values.std(ddof=cfg.std_ddof))
    return mean, std + cfg.epsilon


def _normalise(
    rows: np.ndarray,
    group_keys: np.ndarray,
    unit_keys: np.ndarray,
    reward: np.ndarray,
    cfg: AdvantageConfig,
    out: np.ndarray,
    counters: dict,
    rowless_units: dict[str, dict[str, float]] | None = None,
) -> None:
    """Fill ``out[rows]``: each row's unit value normalised by its group's unit statistics.

    ``rows``: indices of the rows to fill; ``group_keys`` / ``unit_keys`` / ``reward`` are indexed by
    row. A unit's value is the mean reward of its rows (rows of one execution share the reward).
    ``rowless_units``: ``{group_key: {unit_key: value}}`` of units that have no rows (an execution that
    crashed before its first agent call); they join their group's statistics only.
    """
    groups: dict[str, dict[str, list[int]]] = {}
    for i in rows:
        groups.setdefault(group_keys[i], {}).setdefault(unit_keys[i], []).append(int(i))
    for group, units in groups.items():
        unit_values = {u: float(reward[idx].mean()) for u, idx in units.items()}
        for u, value in ((rowless_units or {}).get(group) or {}).items():
            unit_values.setdefault(u, float(value))
        stats = _group_stats(np.array(list(unit_values.values()), dtype=np.float64), cfg)
        counters["groups"] += 1
        if stats is None:
            counters["singleton_groups"] += 1
        elif all(v == next(iter(unit_values.values())) for v in unit_values.values()):
            counters["flat_groups"] += 1
        for u, idx in units.items():
            if stats is None:
                out[idx] = 0.0
            else:
                mean, scale = stats
                out[idx] = (unit_values[u] - mean) / scale


def _rowless_units(
    rowless_executions: Sequence[tuple[str, str, str, float]], *, by_design: bool, cfg: AdvantageConfig
) -> dict[str, dict[str, float]]:
    """``{group_key: {exec_uid: reward}}`` of executions without rows (per-execution statistics only)."""
    if cfg.executor_stats != "per_execution":
        return {}
    units: dict[str, dict[str, float]] = {}
    for uid, duid, euid, value in rowless_executions:
        if not np.isfinite(float(value)):
            raise ValueError(f"reward of row-less execution {euid!r} must be finite, got {value}")
        units.setdefault(str(duid) if by_design else str(uid), {})[str(euid)] = float(value)
    return units


def compute_advantages(
    role: Sequence[str],
    uid: Sequence[str],
    design_uid: Sequence[str],
    exec_uid: Sequence[str],
    reward: Sequence[float],
    cfg: AdvantageConfig | None = None,
    rowless_executions: Sequence[tuple[str, str, str, float]] = (),
) -> tuple[np.ndarray, dict[str, float]]:
    """Per-row scalar advantages of a batch of design-execute tree rows.

    Args:
        role: ``(B,)`` ``"designer"`` / ``"executor"`` / ``"pad"``.
        uid: ``(B,)`` problem ids.
        design_uid: ``(B,)`` design ids (``"{uid}/d{j}"``); ignored on pad rows.
        exec_uid: ``(B,)`` execution ids (``"{uid}/d{j}/e{k}"``; ``""`` on designer rows).
        reward: ``(B,)`` row rewards (float).
        cfg: options; defaults to :class:`AdvantageConfig()`.
        rowless_executions: ``(uid, design_uid, exec_uid, reward)`` of executions that produced no rows
            (e.g. the script crashed before its first call). With ``executor_stats=per_execution`` they
            still count in their executor group's mean and std (one unit each, like any execution); with
            ``per_sample`` an execution without rows has no samples and does not count.

    Returns:
        ``(advantages, stats)``: ``advantages`` is ``(B,)`` float64, 0 on pad rows and in degenerate
        groups, never NaN; ``stats`` holds ``groups``, ``singleton_groups``, ``flat_groups`` (counts) and
        per-role ``{role}/adv_mean``, ``{role}/adv_std``, ``{role}/rows``.

    Raises:
        ValueError: unknown role, mismatched lengths, non-finite rewards, executor row without exec_uid.
    """
    cfg = (cfg or AdvantageConfig()).validate()
    reward_arr = np.asarray(reward, dtype=np.float64).reshape(-1)
    size = reward_arr.shape[0]
    role_arr = _as_str_array(role, "role", size)
    uid_arr = _as_str_array(uid, "uid", size)
    design_arr = _as_str_array(design_uid, "design_uid", size)
    exec_arr = _as_str_array(exec_uid, "exec_uid", size)
    unknown = sorted(set(role_arr.tolist()) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; rows must have role in {ROLES}")
    real = role_arr != ROLE_PAD
    if not np.all(np.isfinite(reward_arr[real])):
        raise ValueError("rewards of non-pad rows must be finite (got NaN/inf)")
    is_designer = role_arr == ROLE_DESIGNER
    is_executor = role_arr == ROLE_EXECUTOR
    if np.any(is_executor & (exec_arr == "")):
        raise ValueError("executor rows need a non-empty exec_uid")

    out = np.zeros(size, dtype=np.float64)
    counters = {"groups": 0, "singleton_groups": 0, "flat_groups": 0}
    per_row_units = np.array([f"row{i}" for i in range(size)], dtype=object)

    if cfg.mode == "hierarchical":
        designer_rows = np.flatnonzero(is_designer)
        _normalise(designer_rows, uid_arr, design_arr, reward_arr, cfg, out, counters)
        executor_rows = np.flatnonzero(is_executor)
        group_keys = uid_arr if cfg.executor_group == "problem" else design_arr
        unit_keys = exec_arr if cfg.executor_stats == "per_execution" else per_row_units
        rowless = _rowless_units(rowless_executions, by_design=cfg.executor_group == "design", cfg=cfg)
        _normalise(executor_rows, group_keys, unit_keys, reward_arr, cfg, out, counters, rowless)
    else:  # flat_grpo
        rows = np.flatnonzero(real)
        if cfg.executor_stats == "per_execution":
            # a designer row is the unit of its design; an executor row's unit is its execution
            unit_keys = np.where(is_designer, design_arr, exec_arr)
        else:
            unit_keys = per_row_units
        rowless = _rowless_units(rowless_executions, by_design=False, cfg=cfg)
        _normalise(rows, uid_arr, unit_keys, reward_arr, cfg, out, counters, rowless)

    stats: dict[str, float] = {k: float(v) for k, v in counters.items()}
    for name, mask in ((ROLE_DESIGNER, is_designer), (ROLE_EXECUTOR, is_executor), (ROLE_PAD, ~real)):
        stats[f"{name}/rows"] = float(mask.sum())
        if name != ROLE_PAD and mask.any():
            stats[f"{name}/adv_mean"] = float(out[mask].mean())
            stats[f"{name}/adv_std"] = float(out[mask].std())
            stats[f"{name}/reward_mean"] = float(reward_arr[mask].mean())
    return out, stats
