"""Math grader: extraction (:mod:`reward_fns.answers`), normalisation, exact equivalence
(:mod:`reward_fns.math.compare`) with a hard per-call timeout.

Registered for the prefix ``math/`` (``math/polaris``, ``math/aime24``, ``math/aime25``,
``math/olympiadbench``, ...) and aliases ``aime24``, ``aime25``, ``olympiadbench``, ``polaris``,
``math``. Score 1.0 if the extracted answer is equivalent to the ground truth, else 0.0.

Numbers compare exactly (``995`` is never ``999``; ``0.333`` is not ``1/3``). Cheap checks run
in-process; anything needing sympy / math-verify runs in a worker process that is killed after
``timeout`` seconds (then the answer scores 0 with ``reason="timeout"``).
"""

from __future__ import annotations

from typing import Any, Optional

from reward_fns.answers import Found, as_choice, find_answer, last_boxed, normalize
from reward_fns.math.compare import Budget, equivalent
from reward_fns.registry import register
from reward_fns.types import GradeResult

DEFAULT_TIMEOUT = 5.0


def extract(response: str) -> tuple[Optional[str], str]:
    """The answer to grade in a response and how it was found (:func:`reward_fns.answers.find_answer`)."""
    found: Found = find_answer(response, last_number=True)
    return found.answer, found.method


def _gold_strings(ground_truth: Any) -> list[str]:
    if isinstance(ground_truth, (list, tuple)):
        out: list[str] = []
        for g in ground_truth:
            out.extend(_gold_strings(g))
        return out
    g = str(ground_truth).strip()
    boxed = last_boxed(g)
    return [boxed if boxed is not None else g]


def is_equivalent(pred: str, gold: str, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether two answer strings (already extracted) are mathematically equivalent."""
    return equivalent(normalize(gold), normalize(pred), Budget(timeout))


@register("math/", aliases=("aime24", "aime25", "aime", "olympiadbench", "polaris", "math", "math500"))
def grade_math(
    answer: str, ground_truth: Any, extra_info: Optional[dict] = None, *, timeout: float = DEFAULT_TIMEOUT,
    extract_answer: bool = True, **_: Any,
) -> GradeResult:
    """Grade a math response (or a bare final answer) against the ground-truth answer string.

    Args:
        answer: the model's response or the design's final answer.
        ground_truth: answer string (``"204"``, ``"\\frac{3}{4}"``); a list means any of them.
        timeout: seconds for the symbolic check before it is killed (score 0, reason "timeout").
        extract_answer: False to compare ``answer`` as is (no extraction).
    Returns:
        GradeResult(score 1.0/0.0, correct, detail={"pred", "method", "reason"}).
    """
    if extract_answer:
        pred, method = extract(answer or "")
    else:
        pred, method = (answer or "").strip(), "as_is"
    if pred is None or not pred.strip():
        return GradeResult(0.0, False, {"pred": "", "method": method, "reason": "no answer found"})
    budget = Budget(timeout)
    golds = _gold_strings(ground_truth)
    ok = False
    for gold in golds:
        choice = as_choice(gold)
        if choice is not None:
            ok = as_choice(pred) == choice or normalize(pred) == normalize(gold)
        else:
            ok = equivalent(normalize(gold), normalize(pred), budget)
        if ok:
            break
    reason = "match" if ok else ("timeout" if budget.timed_out else "mismatch")
    return GradeResult(1.0 if ok else 0.0, ok, {"pred": pred, "method": method, "reason": reason})
