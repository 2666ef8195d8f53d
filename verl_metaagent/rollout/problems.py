"""Dataset rows -> :class:`ProblemSpec` (pure; shared by the tree worker and the designer loop)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from verl_metaagent.rollout.tree_runner import ProblemSpec


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _last_user_message(raw_prompt: Any) -> Optional[str]:
    messages = list(raw_prompt) if raw_prompt is not None else []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):  # multimodal-style content parts
                content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
            return str(content)
    return None


def question_from_row(raw_prompt: Any, extra_info: dict, *, prefer_prompt: bool = False) -> str:
    """The task text a design sees.

    Math: ``extra_info['question']`` if the data has it, else the last user message. Code
    (``prefer_prompt=True``): the last user message first, because for code data it carries the
    starter code and the I/O contract (stdin program vs. ``class Solution`` method) that the bare
    question lacks (examples/data_prep ``code_prompt``).
    """
    stored = str(extra_info["question"]) if isinstance(extra_info, dict) and extra_info.get("question") else None
    prompt = _last_user_message(raw_prompt)
    text = (prompt or stored) if prefer_prompt else (stored or prompt)
    if text:
        return text
    raise ValueError(
        "Cannot find the task text of a dataset row: it has no extra_info.question and no user message in "
        "its prompt. Fix the data (see examples/ data preparation) so every row has a user message."
    )


def task_type_of(data_source: str, ability: Optional[str], extra_info: dict) -> str:
    """``code`` or ``math`` (or the dataset's own ``extra_info.task_type``)."""
    if isinstance(extra_info, dict) and extra_info.get("task_type"):
        return str(extra_info["task_type"])
    if str(data_source).startswith("code") or (ability or "").lower() in ("code", "coding"):
        return "code"
    return "math"


def problem_from_fields(fields: dict, *, uid: str, problem_index: int) -> ProblemSpec:
    """A :class:`ProblemSpec` from one dataset row's fields (``raw_prompt``, ``data_source``, ...)."""
    extra_info = _plain(fields.get("extra_info")) or {}
    extra_info = extra_info if isinstance(extra_info, dict) else {}
    reward_model = _plain(fields.get("reward_model")) or {}
    data_source = str(fields.get("data_source", "unknown"))
    ability = fields.get("ability")
    task_type = task_type_of(data_source, str(ability) if ability is not None else None, extra_info)
    return ProblemSpec(
        uid=uid,
        problem_index=problem_index,
        question=question_from_row(fields.get("raw_prompt"), extra_info, prefer_prompt=task_type == "code"),
        task_type=task_type,
        data_source=data_source,
        ground_truth=reward_model.get("ground_truth") if isinstance(reward_model, dict) else None,
        extra_info=extra_info,
    )
