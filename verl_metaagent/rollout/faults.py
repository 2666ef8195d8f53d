"""Whose fault an execution's end was: the design's (a training signal) or the infrastructure's (not).

Pure; no verl, torch or ray. An execution that ends because of something the *design* did -- it
crashed, looped on its own CPU, wrote no answer, exceeded its call or token budget -- earns its
reward (0 or the format reward), and its rows are trained like any other. An execution that ends
because of *us* -- the LLM backend failed or timed out, the wall clock ran out while the design was
waiting for replies, the grader itself failed -- says nothing about the design or the executor:
its rows leave the advantage groups and the loss (:func:`infrastructure_fault` returns the reason,
``tree_to_rows`` drops them and counts them), and a step where too many executions hit such
faults fails loudly instead of training on what is left (:func:`check_fault_share`).
"""

from __future__ import annotations

from typing import Optional

#: ``design/runtime.py`` statuses that are never the design's fault.
INFRA_STATUSES = ("backend_error",)

#: The wall clock may be spent waiting for replies; the design is blamed for a wall-clock timeout
#: only if its *own* time (wall - LLM wait) used at least this share of the limit.
OWN_TIME_SHARE = 0.9


def infrastructure_fault(
    status: str, reason: str, *, wall_seconds: float, llm_seconds: float, wall_limit: float
) -> Optional[str]:
    """The infrastructure fault that ended an execution, or None when the end is the design's doing.

    Args:
        status: the execution record's status (``finished``, ``timeout``, ``crash``, ``backend_error``, ...).
        reason: its reason text (a wall-clock timeout says ``wall-clock limit``; a CPU one ``CPU limit``).
        wall_seconds: the execution's wall time; llm_seconds: the part spent waiting for agent replies.
        wall_limit: ``metaagent.rollout.budget.wall_seconds``.
    """
    if status in INFRA_STATUSES:
        return f"LLM backend: {reason}" if reason else "LLM backend error"
    if status == "timeout" and "CPU limit" not in reason:
        own = max(0.0, float(wall_seconds) - float(llm_seconds))
        if own < OWN_TIME_SHARE * float(wall_limit):
            return (
                f"wall clock ran out after {wall_seconds:.0f} s, {llm_seconds:.0f} s of it waiting for LLM replies "
                f"(the design's own time {own:.0f} s < {OWN_TIME_SHARE:.0%} of the {wall_limit:g} s limit)"
            )
    return None


class InfrastructureFaultError(RuntimeError):
    """Too many executions of a step ended by infrastructure faults to train on the rest."""


def check_fault_share(faulted: int, executions: int, max_share: float, *,
                      key: str = "metaagent.rollout.max_infra_fault_share") -> None:
    """Raise :class:`InfrastructureFaultError` when ``faulted / executions > max_share`` (names the key)."""
    if executions <= 0 or faulted / executions <= max_share:
        return
    raise InfrastructureFaultError(
        f"{faulted} of {executions} executions this step ({faulted / executions:.0%}) ended by infrastructure faults "
        f"(LLM backend errors or timeouts, the wall clock spent waiting for replies, grader failures), more than "
        f"{key}={max_share:g}. Their rows were kept out of training, but a step this degraded is not trained on: "
        "check the rollout servers' logs and load, or raise the limit."
    )
