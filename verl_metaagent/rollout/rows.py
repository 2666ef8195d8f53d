"""Flatten grown trees into training rows and rollout metrics (pure; no verl imports).

Row order inside a problem: for each design j, its designer row, then the executor rows of its
executions k = 0..N-1 in call order. Rows carry the ids of docs/architecture.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from verl_metaagent.contract import ROLE_DESIGNER, ROLE_EXECUTOR
from verl_metaagent.rollout.tree import calls_to_trajectories, cap_rows
from verl_metaagent.rollout.tree_runner import ProblemTree


@dataclass
class RowSpec:
    """One training row before padding (what becomes one verl ``AgentLoopOutput``)."""

    role: str
    uid: str
    design_uid: str
    exec_uid: str
    problem_index: int
    data_source: str
    reward: float
    termination: str
    prompt_ids: list[int]
    response_ids: list[int]
    response_mask: list[int]
    logprobs: Optional[list[float]]
    num_turns: int
    agent: str = ""
    pattern: str = ""
    messages: list = field(default_factory=list)
    # designer rows: ``(exec_uid, reward)`` of this design's executions that produced no rows (e.g. the
    # script crashed before its first call); they still count in their advantage group's statistics
    rowless_executions: list = field(default_factory=list)


@dataclass
class RowStats:
    """Counters for rows that could not be trained on (they never silently vanish)."""

    calls_too_long: int = 0
    rows_over_cap: int = 0
    designer_too_long: int = 0
    infra_fault_designs: int = 0
    infra_fault_executions: int = 0


def tree_to_rows(
    tree: ProblemTree,
    *,
    prompt_length: int,
    response_length: int,
    merge_multi_turn: bool,
    max_rows_per_execution: int,
    validate: bool = False,
    stats: Optional[RowStats] = None,
) -> list[RowSpec]:
    """Training rows of one problem's tree.

    Validation mode returns exactly one row per problem (the first design's designer row) whose
    reward is the selected execution's reward, so verl's stock validation bookkeeping (one
    output row per input row) applies unchanged.
    """
    stats = stats if stats is not None else RowStats()
    problem = tree.problem
    rows: list[RowSpec] = []
    for design in tree.designs:
        if design.fault and not validate:  # masked: an infrastructure fault, not the designer's doing
            stats.infra_fault_designs += 1
            stats.infra_fault_executions += sum(1 for e in design.executions if e.fault)
            continue
        termination = "valid" if design.valid else "invalid_design"
        designer_row = RowSpec(
            role=ROLE_DESIGNER,
            uid=problem.uid,
            design_uid=design.design_uid,
            exec_uid="",
            problem_index=problem.problem_index,
            data_source=problem.data_source,
            reward=design.reward,
            termination=termination,
            prompt_ids=design.prompt_ids,
            response_ids=design.response_ids,
            response_mask=[1] * len(design.response_ids),
            logprobs=design.logprobs,
            num_turns=2,
            agent="designer",
            pattern=design.pattern,
            messages=list(design.messages or []) + [{"role": "assistant", "content": design.text}],
        )
        if validate:
            designer_row.reward = float(tree.validation_reward or 0.0)
            designer_row.termination = _validation_termination(tree)
            return [_fit_designer(designer_row, prompt_length, response_length, stats)]
        rows.append(_fit_designer(designer_row, prompt_length, response_length, stats))
        for execution in design.executions:
            if execution.fault:  # masked: not trained on, not in any group
                stats.infra_fault_executions += 1
                continue
            trajectories, too_long = calls_to_trajectories(
                execution.calls,
                merge_multi_turn=merge_multi_turn,
                max_prompt_length=prompt_length,
                max_response_length=response_length,
            )
            stats.calls_too_long += too_long
            trajectories, over_cap = cap_rows(trajectories, max_rows_per_execution)
            stats.rows_over_cap += over_cap
            if not trajectories:
                designer_row.rowless_executions.append((execution.exec_uid, float(execution.reward)))
            for traj in trajectories:
                rows.append(
                    RowSpec(
                        role=ROLE_EXECUTOR,
                        uid=problem.uid,
                        design_uid=design.design_uid,
                        exec_uid=execution.exec_uid,
                        problem_index=problem.problem_index,
                        data_source=problem.data_source,
                        reward=execution.reward,
                        termination=execution.status,
                        prompt_ids=traj.prompt_ids,
                        response_ids=traj.response_ids,
                        response_mask=traj.response_mask,
                        logprobs=traj.logprobs,
                        num_turns=traj.num_turns,
                        agent=traj.agent,
                        pattern=design.pattern,
                        messages=list(traj.messages or []),
                    )
                )
    return rows


def _validation_termination(tree: ProblemTree) -> str:
    executions = [e for d in tree.designs for e in d.executions]
    return executions[0].status if executions else "invalid_design"


def _fit_designer(row: RowSpec, prompt_length: int, response_length: int, stats: RowStats) -> RowSpec:
    """A designer prompt longer than ``prompt_length`` is left-truncated (as verl's agent loops do);
    the response never exceeds ``response_length`` because ``max_tokens`` is capped by it."""
    if len(row.prompt_ids) > prompt_length:
        stats.designer_too_long += 1
        row.prompt_ids = row.prompt_ids[-prompt_length:]
    if len(row.response_ids) > response_length:
        stats.designer_too_long += 1
        row.response_ids = row.response_ids[:response_length]
        row.response_mask = row.response_mask[:response_length]
        row.logprobs = row.logprobs[:response_length] if row.logprobs is not None else None
    return row


def tree_summary(trees: list[ProblemTree], rows: list[RowSpec], row_stats: RowStats) -> dict:
    """A small JSON-able summary of one worker's trees (merged across workers by :func:`merge_summaries`)."""
    designs, executions = [], []
    for tree in trees:
        for d in tree.designs:
            designs.append(
                {
                    "valid": bool(d.valid),
                    "reward": float(d.reward),
                    "pattern": d.pattern,
                    "agents": len({c.agent for e in d.executions for c in e.calls}),
                    "executed": bool(d.executions),
                    "fault": bool(d.fault),
                }
            )
            for e in d.executions:
                executions.append(
                    {
                        "reward": float(e.reward),
                        "status": e.status,
                        "calls": len(e.calls),
                        "seconds": float(e.seconds),
                        "llm_seconds": float(e.llm_seconds),
                        "fault": bool(e.fault),
                    }
                )
    roles = Counter(r.role for r in rows)
    return {
        "designs": designs,
        "executions": executions,
        "rows": {ROLE_DESIGNER: roles.get(ROLE_DESIGNER, 0), ROLE_EXECUTOR: roles.get(ROLE_EXECUTOR, 0)},
        "dropped": {
            "too_long": row_stats.calls_too_long,
            "over_cap": row_stats.rows_over_cap,
            "designer_truncated": row_stats.designer_too_long,
            "infra_fault_designs": row_stats.infra_fault_designs,
            "infra_fault_executions": row_stats.infra_fault_executions,
        },
    }


def merge_summaries(summaries: list[dict]) -> dict:
    """Concatenate per-worker summaries."""
    merged = {"designs": [], "executions": [], "rows": Counter(), "dropped": Counter()}
    for s in summaries:
        merged["designs"] += s["designs"]
        merged["executions"] += s["executions"]
        merged["rows"].update(s["rows"])
        merged["dropped"].update(s["dropped"])
    return merged


def rollout_metrics(summary: dict) -> dict[str, float]:
    """Metrics for verl's tracker under ``metaagent/rollout/*`` (means over the batch)."""
    designs, executions = summary["designs"], summary["executions"]
    metrics: dict[str, float] = {}
    if designs:
        n = len(designs)
        metrics["metaagent/rollout/design_valid_rate"] = sum(d["valid"] for d in designs) / n
        metrics["metaagent/rollout/designer_reward_mean"] = sum(d["reward"] for d in designs) / n
        executed = [d["agents"] for d in designs if d["executed"]]
        if executed:
            metrics["metaagent/rollout/agents_per_design"] = sum(executed) / len(executed)
        for pattern, count in Counter(d["pattern"] for d in designs).items():
            metrics[f"metaagent/rollout/pattern/{pattern}"] = count / n
    if executions:
        n = len(executions)
        metrics["metaagent/rollout/executor_reward_mean"] = sum(e["reward"] for e in executions) / n
        metrics["metaagent/rollout/calls_per_execution"] = sum(e["calls"] for e in executions) / n
        metrics["metaagent/rollout/execution_seconds_mean"] = sum(e["seconds"] for e in executions) / n
        metrics["metaagent/rollout/execution_seconds_max"] = max(e["seconds"] for e in executions)
        for status, count in Counter(e["status"] for e in executions).items():
            metrics[f"metaagent/rollout/termination/{status}"] = count / n
        metrics["metaagent/rollout/infra_fault_rate"] = sum(bool(e.get("fault")) for e in executions) / n
    for role, count in summary["rows"].items():
        metrics[f"metaagent/rollout/rows_{role}"] = float(count)
    for key, count in summary["dropped"].items():
        metrics[f"metaagent/rollout/dropped_{key}"] = float(count)
    return metrics
