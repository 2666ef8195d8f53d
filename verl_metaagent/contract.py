"""The rollout <-> trainer row contract: names and ids shared by the rollout, advantage, phases and trainer.

verl cannot check this contract (the fields travel as ``extra_fields`` / ``non_tensor_batch`` entries and
TransferQueue tags), so every spelling of it lives here, at the bottom layer: pure Python, no verl,
torch or numpy. docs/architecture.md ("Rollout rows") describes the fields.

Tree ids of one problem ``uid``::

    design j       design_uid(uid, j)     == "{uid}/d{j}"
    execution k    exec_uid(uid, j, k)    == "{uid}/d{j}/e{k}"   ("" on designer rows)
    TQ key         tq_key(uid, j, i)      == "{uid}_{j}_{i}"     (v1 trainer: session j, index i in it)
    repeated copy  repeat_uid(uid, r)     == "{uid}#{r}"         (r >= 1: the r-th repeat of a problem)
"""

from __future__ import annotations

# roles of a training row
ROLE_DESIGNER = "designer"
ROLE_EXECUTOR = "executor"
ROLE_PAD = "pad"  # trainer padding rows: zero response mask, advantage 0, never in a group
ROLES = (ROLE_DESIGNER, ROLE_EXECUTOR, ROLE_PAD)
TRAINED_ROLES = (ROLE_DESIGNER, ROLE_EXECUTOR)  # the roles a phase can train, in update order

# row id keys (``extra_fields`` of a rollout row; ``non_tensor_batch`` columns of the legacy DataProto)
ROLE = "role"
UID = "uid"
DESIGN_UID = "design_uid"
EXEC_UID = "exec_uid"
PROBLEM_INDEX = "problem_index"
DATA_SOURCE = "data_source"
ROW_ID_KEYS = (ROLE, UID, DESIGN_UID, EXEC_UID)  # what the advantage needs to group a row

# other per-row fields the rollout writes and the trainer reads
REWARD = "metaagent_reward"  # designer: mean of its executions (or the format reward); executor: its execution's
TERMINATION = "termination"
AGENT = "agent"
DESIGN_PATTERN = "design_pattern"
ROWLESS_EXECUTIONS = "rowless_executions"  # designer rows: [(exec_uid, reward)] of executions without rows
SUMMARY = "metaagent_summary"  # v1: the tree summary on a problem's first row; legacy: a worker's meta_info key
MIN_GLOBAL_STEPS = "min_global_steps"  # v1: the policy versions that answered the row's calls
MAX_GLOBAL_STEPS = "max_global_steps"
GLOBAL_STEPS = "global_steps"  # v1 TQ tag: the training step the row's prompt was dispatched for

# DataProto ``meta_info`` keys
METRICS = "metaagent_metrics"  # the manager's ``metaagent/rollout/*`` metrics

_DESIGN_MARK = "/d"
_EXEC_MARK = "/e"


def design_uid(uid: str, j: int) -> str:
    """Id of design ``j`` of problem ``uid``: ``"{uid}/d{j}"``."""
    return f"{uid}{_DESIGN_MARK}{int(j)}"


def exec_uid(uid: str, j: int, k: int) -> str:
    """Id of execution ``k`` of design ``j`` of problem ``uid``: ``"{uid}/d{j}/e{k}"``."""
    return f"{design_uid(uid, j)}{_EXEC_MARK}{int(k)}"


def repeat_uid(uid: str, repeat: int) -> str:
    """The tree uid of the ``repeat``-th copy of problem ``uid`` in one batch: ``uid`` itself for the first,
    ``"{uid}#{repeat}"`` after it, so that each copy grows its own tree and its own advantage groups."""
    return str(uid) if int(repeat) == 0 else f"{uid}#{int(repeat)}"


def design_index(design_id: str) -> int:
    """``j`` of a ``design_uid`` ``"{uid}/d{j}"`` (the problem uid may itself contain ``/d``).

    Raises:
        ValueError: ``design_id`` is not a design id.
    """
    head, sep, tail = str(design_id).rpartition(_DESIGN_MARK)
    if not sep or not head or not tail.isdigit():
        raise ValueError(f"not a design_uid ('{{uid}}/d{{j}}'): {design_id!r}")
    return int(tail)


def tq_key(uid: str, session: int, index: int) -> str:
    """The v1 trainer's TransferQueue key of a row: ``"{uid}_{session}_{index}"`` (verl's multi-trajectory
    convention; session = design index ``j``, index = the row's position in the design's subtree)."""
    return f"{uid}_{int(session)}_{int(index)}"


def split_tq_key(key: str) -> tuple[str, int, int]:
    """``(uid, session, index)`` of a :func:`tq_key` (the uid may itself contain ``_``).

    Raises:
        ValueError: ``key`` is not a TQ key.
    """
    uid, sep1, rest = str(key).rpartition("_")
    uid, sep2, session = uid.rpartition("_")
    if not (sep1 and sep2 and uid and session.isdigit() and rest.isdigit()):
        raise ValueError(f"not a TQ key ('{{uid}}_{{session}}_{{index}}'): {key!r}")
    return uid, int(session), int(rest)


__all__ = [
    "ROLE_DESIGNER",
    "ROLE_EXECUTOR",
    "ROLE_PAD",
    "ROLES",
    "TRAINED_ROLES",
    "ROLE",
    "UID",
    "DESIGN_UID",
    "EXEC_UID",
    "PROBLEM_INDEX",
    "DATA_SOURCE",
    "ROW_ID_KEYS",
    "REWARD",
    "TERMINATION",
    "AGENT",
    "DESIGN_PATTERN",
    "ROWLESS_EXECUTIONS",
    "SUMMARY",
    "MIN_GLOBAL_STEPS",
    "MAX_GLOBAL_STEPS",
    "GLOBAL_STEPS",
    "METRICS",
    "design_uid",
    "exec_uid",
    "repeat_uid",
    "design_index",
    "tq_key",
    "split_tq_key",
]
