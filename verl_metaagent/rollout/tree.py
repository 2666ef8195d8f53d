"""Pure logic of the design-execute tree: seeds, rewards, and turning agent calls into rows.

Nothing here talks to an LLM, Ray or verl; the async runner (:mod:`.tree_runner`) and the verl
worker (:mod:`.worker`) are thin layers over these functions, which the tests check by hand.

Tree of one problem::

    problem uid
      design j (designer row: prompt = designer prompt, response = the script)
        execution k (reward r_jk from grading its final answer)
          agent calls -> executor rows (every row of execution jk carries r_jk)

Design reward R_j = mean_k r_jk, or the invalid-design format reward when the script was rejected.
The tree's ids (``design_uid``, ``exec_uid``) and row roles are the row contract's
(:mod:`verl_metaagent.contract`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

def derive_seed(base_seed: int, *parts: Any) -> int:
    """A stable 31-bit seed from ``base_seed`` and any parts (step, problem, design, execution, call).

    Uses SHA-256 of the parts' ``repr`` (never Python's salted ``hash``), so the same config and
    data give the same seeds in every process and run.
    """
    digest = hashlib.sha256(repr((int(base_seed),) + tuple(parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def design_reward(execution_rewards: Sequence[float], *, valid: bool, invalid_reward: float,
                  valid_bonus: float = 0.0) -> float:
    """R_j: mean of the design's execution rewards (+ optional bonus), or ``invalid_reward`` if invalid."""
    if not valid or not execution_rewards:
        return float(invalid_reward)
    return float(sum(execution_rewards)) / len(execution_rewards) + float(valid_bonus)


@dataclass
class CallTokens:
    """One agent LLM call as tokens: what the model saw and what it produced."""

    agent: str
    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: Optional[list[float]] = None
    messages: Optional[list[dict]] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop_reason: Optional[str] = None  # "length" = cut at max_tokens


@dataclass
class Trajectory:
    """One training row: ``prompt_ids`` then ``response_ids`` with ``response_mask`` (1 = model token).

    A multi-turn agent's later calls are appended to its response with mask 0 over the tokens the
    model did not generate (the next user turn) and mask 1 over its new answer.
    """

    agent: str
    prompt_ids: list[int]
    response_ids: list[int] = field(default_factory=list)
    response_mask: list[int] = field(default_factory=list)
    logprobs: Optional[list[float]] = None
    num_turns: int = 0
    messages: Optional[list[dict]] = None

    @property
    def full_ids(self) -> list[int]:
        return self.prompt_ids + self.response_ids


def _starts_with(seq: Sequence[int], prefix: Sequence[int]) -> bool:
    return len(seq) >= len(prefix) and list(seq[: len(prefix)]) == list(prefix)


def calls_to_trajectories(
    calls: Sequence[CallTokens],
    *,
    merge_multi_turn: bool,
    max_prompt_length: int,
    max_response_length: int,
) -> tuple[list[Trajectory], int]:
    """Turn an execution's agent calls (in call order) into training rows.

    A call extends the open row of the same agent when its prompt starts with that row's full
    token sequence (prompt + response so far) and the grown response still fits
    ``max_response_length``; otherwise it opens a new row. Rows whose prompt exceeds
    ``max_prompt_length`` or whose response exceeds ``max_response_length`` cannot be trained on
    without truncation and are dropped.

    Returns:
        (rows, number of calls dropped because they did not fit the lengths).
    """
    rows: list[Trajectory] = []
    open_row: dict[str, int] = {}
    dropped = 0
    for call in calls:
        logprobs = list(call.logprobs) if call.logprobs is not None else None
        idx = open_row.get(call.agent)
        if merge_multi_turn and idx is not None:
            row = rows[idx]
            full = row.full_ids
            if _starts_with(call.prompt_ids, full):
                delta = list(call.prompt_ids[len(full) :])
                if len(row.response_ids) + len(delta) + len(call.response_ids) <= max_response_length:
                    row.response_ids += delta + list(call.response_ids)
                    row.response_mask += [0] * len(delta) + [1] * len(call.response_ids)
                    if row.logprobs is not None and logprobs is not None:
                        row.logprobs += [0.0] * len(delta) + logprobs
                    else:
                        row.logprobs = None
                    row.num_turns += 2
                    row.messages = call.messages
                    continue
        if len(call.prompt_ids) > max_prompt_length or len(call.response_ids) > max_response_length:
            dropped += 1
            open_row.pop(call.agent, None)
            continue
        rows.append(
            Trajectory(
                agent=call.agent,
                prompt_ids=list(call.prompt_ids),
                response_ids=list(call.response_ids),
                response_mask=[1] * len(call.response_ids),
                logprobs=logprobs,
                num_turns=2,
                messages=call.messages,
            )
        )
        open_row[call.agent] = len(rows) - 1
    return rows, dropped


def cap_rows(rows: list[Trajectory], max_rows: int) -> tuple[list[Trajectory], int]:
    """Keep at most ``max_rows`` rows (0 = all), evenly spread over the execution, in order.

    Returns (kept rows, number dropped).
    """
    if max_rows <= 0 or len(rows) <= max_rows:
        return rows, 0
    if max_rows == 1:
        return [rows[-1]], len(rows) - 1
    step = (len(rows) - 1) / (max_rows - 1)
    picked = sorted({round(i * step) for i in range(max_rows)})
    return [rows[i] for i in picked], len(rows) - len(picked)


def majority_answer(answers: Sequence[Optional[str]], task_type: str = "math") -> Optional[str]:
    """Most common non-empty answer; ties broken by first occurrence; None if nobody answered.

    Answers are grouped by the project's one normal form (:func:`reward_fns.answers.answer_key`:
    ``"0.5"`` and ``"\\frac{1}{2}"`` vote together); programs (``task_type="code"``) by their text
    without whitespace. Returns the first original answer of the winning group.
    """
    from reward_fns.answers import answer_key, code_key, majority_vote

    return majority_vote(answers, key=code_key if task_type == "code" else answer_key)
