"""The rollout's grader: reward of one execution's final answer.

Defaults to :mod:`reward_fns` (registry by ``data_source``). A verl user's own
``reward.custom_reward_function.path/name`` (``compute_score(data_source, solution_str,
ground_truth, extra_info)``, sync or async, float or dict with ``score``) replaces it, exactly as
in a stock verl run.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Callable, Optional

from verl_metaagent.rollout.tree_runner import Grader


def _score_of(result: Any) -> float:
    if isinstance(result, dict):
        if "score" not in result:
            raise ValueError(f"reward function returned a dict without 'score': keys {sorted(result)}")
        result = result["score"]
    return float(result)


def grader_from_compute_score(fn: Callable[..., Any]) -> Grader:
    """Wrap a verl-style ``compute_score`` (sync functions run in a thread, never on the event loop)."""

    async def grade(data_source: str, answer: Optional[str], ground_truth: Any, extra_info: dict) -> float:
        if answer is None:
            return 0.0
        if inspect.iscoroutinefunction(fn):
            result = await fn(data_source=data_source, solution_str=answer, ground_truth=ground_truth,
                              extra_info=extra_info)
        else:
            result = await asyncio.to_thread(
                fn, data_source=data_source, solution_str=answer, ground_truth=ground_truth, extra_info=extra_info
            )
        return _score_of(result)

    return grade


def make_grader(config: Any = None) -> Grader:
    """The grader for a run: the user's verl custom reward function if configured, else ``reward_fns``."""
    custom = None
    if config is not None:
        reward_cfg = config.get("reward", None) or {}
        crf = reward_cfg.get("custom_reward_function", None) or {}
        if crf.get("path"):
            from verl.trainer.ppo.reward import get_custom_reward_fn

            custom = get_custom_reward_fn(config)
    if custom is not None:
        return grader_from_compute_score(custom)
    import reward_fns

    if hasattr(reward_fns, "grade_async"):

        async def grade(data_source: str, answer: Optional[str], ground_truth: Any, extra_info: dict) -> float:
            if answer is None:
                return 0.0
            result = await reward_fns.grade_async(data_source, answer, ground_truth, extra_info)
            return float(result.score)

        return grade
    return grader_from_compute_score(reward_fns.compute_score)


def code_test_runner_factory():
    """``problem -> async run_tests(code, tests)`` for designs of code tasks (None without reward_fns' runner).

    A design's ``run_tests(code)`` / ``run_tests(code, "public")`` runs the problem's
    ``extra_info.public_tests``; explicit tests run as given; ``run_code`` runs the program once.
    Hidden tests stay with the grader. Replies use the design API's shape (:mod:`.code_tests`).
    """
    from verl_metaagent.rollout.code_tests import api_test_runner_factory

    return api_test_runner_factory()
