"""Math grader: extraction, normalisation, exact equivalence with a hard per-call timeout.

Registered for the prefix ``math/`` (``math/polaris``, ``math/aime24``, ``math/aime25``,
``math/olympiadbench``, ...) and aliases ``aime24``, ``aime25``, ``olympiadbench``, ``polaris``,
``math``. Score 1.0 if the extracted answer is equivalent to the ground truth, else 0.0.

Numbers compare exactly (``995`` is never ``999``; ``0.333`` is not ``1/3``). Cheap checks run
in-process; anything needing sympy / math-verify runs in a worker process that is killed after
``timeout`` seconds (then the answer scores 0 with ``reason="timeout"``).
"""

from __future__ import annotations

import re
import time
from typing import Any, Optional

from reward_fns.math.extract import extract_answer, last_boxed
from reward_fns.math.normalize import as_choice, normalize, split_top, structure, to_rational
from reward_fns.registry import register
from reward_fns.types import GradeResult

DEFAULT_TIMEOUT = 5.0
MAX_SYMBOLIC_CHARS = 2000


class _Budget:
    """One grading call's time budget, shared by all its symbolic checks (a total deadline)."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.timed_out = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def _symbolic(gold: str, pred: str, budget: _Budget) -> bool:
    if len(gold) > MAX_SYMBOLIC_CHARS or len(pred) > MAX_SYMBOLIC_CHARS:
        return False
    from reward_fns.math._timeout import CallTimeout, get_pool

    left = budget.remaining()
    if left <= 0:
        budget.timed_out = True
        return False
    try:
        return bool(get_pool().call("reward_fns.math.symbolic:equal", (gold, pred), left))
    except CallTimeout:
        budget.timed_out = True
        return False
    except RuntimeError:
        return False


def _scalar_equal(g: str, p: str, budget: _Budget) -> bool:
    if g == p:
        return True
    rg, rp = to_rational(g), to_rational(p)
    if rg is not None and rp is not None:
        if rg == rp:
            return True
        # "50%" for a gold "50" (and the reverse): the percent sign is a unit here
        if p.endswith("%") and to_rational(p[:-1]) == rg:
            return True
        if g.endswith("%") and to_rational(g[:-1]) == rp:
            return True
        return False
    if rg is not None and p.endswith("%"):
        p = p[:-1]
    if rp is not None and g.endswith("%"):
        g = g[:-1]
    # both plain words (no digits / latex): string compare only
    if re.fullmatch(r"[A-Za-z ]+", g) and re.fullmatch(r"[A-Za-z ]+", p):
        return g.lower() == p.lower()
    return _symbolic(g, p, budget)


def _items_equal(gi: list[str], pi: list[str], ordered: bool, budget: _Budget) -> bool:
    if len(gi) != len(pi):
        return False
    gi = [normalize(x) for x in gi]
    pi = [normalize(x) for x in pi]
    if ordered:
        return all(equivalent_normalized(a, b, budget) for a, b in zip(gi, pi))
    remaining = list(pi)
    for a in gi:
        for j, b in enumerate(remaining):
            if equivalent_normalized(a, b, budget):
                del remaining[j]
                break
        else:
            return False
    return True


def equivalent_normalized(g: str, p: str, budget: _Budget) -> bool:
    """Equivalence of two normalised answers (structure first, then scalars)."""
    if g == p:
        return True
    gu, pu = split_top(g, "\\cup"), split_top(p, "\\cup")
    if len(gu) > 1 or len(pu) > 1:
        return len(gu) == len(pu) and all(equivalent_normalized(a, b, budget) for a, b in zip(gu, pu))
    go, gitems, gc = structure(g)
    po, pitems, pc = structure(p)
    if len(gitems) == 1 and len(pitems) == 1:
        return _scalar_equal(g, p, budget)
    if len(gitems) != len(pitems):
        return False
    g_set = go == "{" or go == ""
    p_set = po == "{" or po == ""
    if go in "([" and go != "" and gc in ")]" and len(gitems) == 2 and (go, gc) != ("(", ")"):
        # half-open / closed interval: brackets must match exactly
        return (po, pc) == (go, gc) and _items_equal(gitems, pitems, True, budget)
    if (go, gc) == ("(", ")") and (po, pc) not in (("(", ")"), ("", "")):
        return False
    if g_set and (p_set or go == ""):
        return _items_equal(gitems, pitems, False, budget)
    if g_set and po == "(" and go == "":
        return _items_equal(gitems, pitems, False, budget)
    if go == "{" and po in "([" and po != "":
        return False
    return _items_equal(gitems, pitems, True, budget)


def _looks_bare(text: str) -> bool:
    t = text.strip()
    if not t or len(t) > 120:
        return False
    words = re.sub(r"\\[A-Za-z]+(\{[^{}]*\})?", " ", t)
    return not re.search(r"[A-Za-z]{2,}", words)


def extract(response: str) -> tuple[Optional[str], str]:
    """The answer to grade from a response: boxed / "answer is" / a bare answer / last number."""
    ans, method = extract_answer(response)
    if method == "last_number" and _looks_bare(response):
        return response.strip(), "bare"
    return ans, method


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
    return equivalent_normalized(normalize(gold), normalize(pred), _Budget(timeout))


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
    budget = _Budget(timeout)
    golds = _gold_strings(ground_truth)
    ok = False
    for gold in golds:
        choice = as_choice(gold)
        if choice is not None:
            ok = as_choice(pred) == choice or normalize(pred) == normalize(gold)
        else:
            ok = equivalent_normalized(normalize(gold), normalize(pred), budget)
        if ok:
            break
    reason = "match" if ok else ("timeout" if budget.timed_out else "mismatch")
    return GradeResult(1.0 if ok else 0.0, ok, {"pred": pred, "method": method, "reason": reason})
