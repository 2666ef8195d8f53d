"""Template reward function — copy this file to add your own (see CONTRIBUTING.md).

This example grades short-answer questions by case-insensitive exact match after trimming
punctuation, for ``data_source="example/exact_match"`` (alias ``exact_match_example``).
It is NOT imported by default: your module's ``@register`` runs once it is loaded -- through an
entry point in group ``reward_fns.graders`` of your installed package, ``--reward-module FILE``,
``REWARD_FNS_MODULES=FILE`` or ``reward_fns.load_module`` (see CONTRIBUTING.md).
"""

from __future__ import annotations

import string
from typing import Any, Optional

from reward_fns import GradeResult, register


def _clean(text: str) -> str:
    return text.strip().strip(string.punctuation + " ").lower()


@register("example/exact_match", aliases=("exact_match_example",))
def grade_exact_match(answer: str, ground_truth: Any, extra_info: Optional[dict] = None, **kwargs: Any) -> GradeResult:
    """1.0 if ``answer`` equals ``ground_truth`` (or any of a list) ignoring case and punctuation.

    Args:
        answer: the model's answer (the design's final answer, or the full response in verl).
        ground_truth: ``reward_model.ground_truth`` of the data row (string or list of strings).
        extra_info: the row's ``extra_info`` (unused here).
        **kwargs: ``reward_kwargs`` from verl's config (unused here).
    """
    golds = ground_truth if isinstance(ground_truth, (list, tuple)) else [ground_truth]
    pred = _clean(answer or "")
    ok = any(pred == _clean(str(g)) for g in golds)
    return GradeResult(score=1.0 if ok else 0.0, correct=ok, detail={"pred": pred})
