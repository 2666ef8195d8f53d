"""Reward functions for verl-metaagent: a registry by ``data_source`` with math and code graders.

Stand-alone and light to import (no verl / torch / ray; math-verify and sympy load lazily).

verl entry (``reward.custom_reward_function.path=pkg://reward_fns`` — or the file path of this
``__init__.py`` — and ``name=compute_score``; ``compute_score_async`` is the coroutine twin)::

    compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs) -> dict

Direct API (the rollout)::

    grade(data_source, answer, ground_truth, extra_info=None) -> GradeResult
    await grade_async(data_source, answer, ground_truth, extra_info=None) -> GradeResult

Add a grader with ``@register("my_source")`` in a module of your own, loaded from an installed
package's entry point (group ``reward_fns.graders``), ``REWARD_FNS_MODULES`` or
:func:`load_module`; check a data set with :func:`missing_graders` before spending LLM calls on
it (see ``reward_fns/CONTRIBUTING.md``). verl's own data sources (``openai/gsm8k``, ...) fall
back to verl's ``default_compute_score``. Answer extraction for everyone: :mod:`reward_fns.answers`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from typing import Any, Optional

from reward_fns.loading import ENTRY_POINT_GROUP, MODULES_ENV, load_errors, load_module, load_modules
from reward_fns.registry import (
    UnknownDataSource,
    _as_result,
    check_graders,
    missing_graders,
    missing_graders_message,
    register,
    registered,
    resolve,
    unregister,
)
from reward_fns.types import GradeResult

__all__ = [
    "ENTRY_POINT_GROUP",
    "MODULES_ENV",
    "GradeResult",
    "UnknownDataSource",
    "check_graders",
    "compute_score",
    "compute_score_async",
    "grade",
    "grade_async",
    "load_errors",
    "load_module",
    "load_modules",
    "missing_graders",
    "missing_graders_message",
    "register",
    "registered",
    "resolve",
    "unregister",
]


async def grade_async(
    data_source: str, answer: Optional[str], ground_truth: Any, extra_info: Optional[dict] = None, **kwargs: Any
) -> GradeResult:
    """Grade ``answer`` against ``ground_truth`` with the grader registered for ``data_source``.

    Async graders (code) run on the current event loop, so many samples can be graded
    concurrently (bounded by the code grader's own semaphore); sync graders (math) run in a
    worker thread so the loop never blocks. ``answer=None`` scores 0.
    """
    entry = resolve(data_source)
    if answer is None:
        return GradeResult(0.0, False, {"reason": "no answer"})
    extra_info = extra_info or {}
    if entry.is_async:
        value = await entry.fn(answer, ground_truth, extra_info, **kwargs)
    else:
        value = await asyncio.to_thread(entry.fn, answer, ground_truth, extra_info, **kwargs)
    return _as_result(value)


_SYNC_SLOTS: Optional[threading.BoundedSemaphore] = None
_SYNC_LOCK = threading.Lock()


def _sync_slots() -> threading.BoundedSemaphore:
    # verl runs sync reward functions in a thread pool, each call on its own event loop:
    # bound concurrent async grading (sandboxes) across those threads too.
    global _SYNC_SLOTS
    with _SYNC_LOCK:
        if _SYNC_SLOTS is None:
            n = int(os.environ.get("REWARD_FNS_CODE_CONCURRENCY", 2 * (os.cpu_count() or 1)))
            _SYNC_SLOTS = threading.BoundedSemaphore(max(1, n))
        return _SYNC_SLOTS


def _run_coroutine_sync(coro_factory):
    with _sync_slots():
        return _run_coroutine_sync_unbounded(coro_factory)


def _run_coroutine_sync_unbounded(coro_factory):
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro_factory())
    # Called from inside a running loop's thread: run on a private loop in another thread.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coro_factory())).result()


def grade(
    data_source: str, answer: Optional[str], ground_truth: Any, extra_info: Optional[dict] = None, **kwargs: Any
) -> GradeResult:
    """Synchronous :func:`grade_async` (safe from any thread, with or without a running loop)."""
    entry = resolve(data_source)
    if answer is None:
        return GradeResult(0.0, False, {"reason": "no answer"})
    extra_info = extra_info or {}
    if entry.is_async:
        return _as_result(_run_coroutine_sync(lambda: entry.fn(answer, ground_truth, extra_info, **kwargs)))
    return _as_result(entry.fn(answer, ground_truth, extra_info, **kwargs))


def compute_score(
    data_source: str, solution_str: Optional[str], ground_truth: Any, extra_info: Optional[dict] = None, **kwargs: Any
) -> dict:
    """verl's ``custom_reward_function`` entry: returns ``{"score", "acc", "pred", ...}``.

    Synchronous on purpose: verl 0.9.1's reward loop runs sync functions in its thread pool
    (``loop.run_in_executor``) and the legacy path calls them directly. Extra keyword
    arguments (``reward_kwargs`` in verl's config) are passed to the grader.
    """
    return grade(data_source, solution_str, ground_truth, extra_info, **kwargs).to_verl()


async def compute_score_async(
    data_source: str, solution_str: Optional[str], ground_truth: Any, extra_info: Optional[dict] = None, **kwargs: Any
) -> dict:
    """Async twin of :func:`compute_score` (verl awaits coroutine functions on its reward loop)."""
    return (await grade_async(data_source, solution_str, ground_truth, extra_info, **kwargs)).to_verl()
