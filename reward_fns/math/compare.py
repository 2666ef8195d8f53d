"""Equivalence of two normalised answers: shapes first, then exact numbers, then sympy.

Rules (the written rules of ``tests/reward_fns/data/independent/README.md``):

* numbers compare exactly (``995`` is not ``999``, ``0.333`` is not ``1/3``); a percent sign is a
  unit (``25\\%`` = ``25``, and ``25\\%`` is not ``0.25``);
* sets, bare solution lists and ``a \\pm b`` are unordered; tuples are ordered; intervals need the
  same brackets; a union of intervals is a set of pieces (any order); a one-element set is its
  element (``\\{3\\}`` = ``3``), but the empty set is no number;
* matrices are equal entrywise whatever the environment (``pmatrix`` = ``bmatrix`` = ``matrix``),
  but a determinant (``vmatrix``) is no matrix;
* anything else goes to math-verify/sympy (:mod:`reward_fns.math.symbolic`) in a worker process
  with a hard deadline, never with prose in it.
"""

from __future__ import annotations

import re
import time

from reward_fns.answers.normalize import normalize, to_rational
from reward_fns.math import structure as st

MAX_SYMBOLIC_CHARS = 2000
# functions written without a backslash that are still mathematics, not prose
_FUNCTION_WORDS = {
    "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "log",
    "ln", "exp", "sqrt", "max", "min", "gcd", "lcm", "det", "mod", "floor", "ceil", "binom", "frac", "cdot",
}
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\{[A-Za-z*]+\}(?:\{[lcr|]*\})?")
_SET_BUILDERS = re.compile(r"\\(?:setminus|mathbb|cap|begin|emptyset|complement|mathbf)")


class Budget:
    """One grading call's time budget, shared by all its symbolic checks (a total deadline)."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self.timed_out = False

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def has_prose(s: str) -> bool:
    """Whether a normalised answer holds words (four or more letters that are no LaTeX command
    or function name): then it is compared as a string only, never handed to sympy."""
    for m in re.finditer(r"(?<![\\A-Za-z])[A-Za-z]{4,}", _ENVIRONMENT.sub("", s)):
        if m.group(0).lower() not in _FUNCTION_WORDS:
            return True
    return False


def symbolic(gold: str, pred: str, budget: Budget) -> bool:
    """math-verify/sympy equivalence in the worker pool within ``budget`` (False on timeout)."""
    if len(gold) > MAX_SYMBOLIC_CHARS or len(pred) > MAX_SYMBOLIC_CHARS:
        return False
    if has_prose(gold) or has_prose(pred):
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


def _percentless(s: str) -> str:
    return s[:-1] if s.endswith("%") else s


def scalar_equal(g: str, p: str, budget: Budget) -> bool:
    """Two numbers or expressions (normalised strings)."""
    if g == p:
        return True
    g, p = _percentless(g), _percentless(p)  # a percent sign is a unit
    if g == p:
        return True
    rg, rp = to_rational(g), to_rational(p)
    if rg is not None and rp is not None:
        return rg == rp
    if re.fullmatch(r"[A-Za-z ]+", g) and re.fullmatch(r"[A-Za-z ]+", p):
        return g.lower() == p.lower()
    return symbolic(g, p, budget)


def _matched(golds, preds, same) -> bool:
    """Whether the items pair up one to one under ``same`` (order free)."""
    if len(golds) != len(preds):
        return False
    left = list(preds)
    for g in golds:
        for j, p in enumerate(left):
            if same(g, p):
                del left[j]
                break
        else:
            return False
    return True


def _items(golds, preds, ordered: bool, budget: Budget) -> bool:
    def same(a: str, b: str) -> bool:
        return equivalent(normalize(a), normalize(b), budget)

    if ordered:
        return len(golds) == len(preds) and all(same(a, b) for a, b in zip(golds, preds))
    return _matched(golds, preds, same)


def _matrices(g: st.Shape, p: st.Shape, budget: Budget) -> bool:
    if len(g.rows) != len(p.rows) or any(len(a) != len(b) for a, b in zip(g.rows, p.rows)):
        return False
    return all(_items(a, b, True, budget) for a, b in zip(g.rows, p.rows))


def _singleton(shape: st.Shape) -> bool:
    return shape.kind == st.SET and len(shape.items) == 1 and "\\emptyset" not in shape.text


def _builds_set(shape: st.Shape) -> bool:
    return shape.kind == st.SCALAR and bool(_SET_BUILDERS.search(shape.text))


def shapes_equal(g: st.Shape, p: st.Shape, budget: Budget) -> bool:
    """Equivalence of two parsed answers (``g`` the gold)."""
    if g.text == p.text:
        return True
    if g.kind == st.SCALAR and p.kind == st.SCALAR:
        return scalar_equal(g.text, p.text, budget)
    if _singleton(g) and p.kind == st.SCALAR and not _builds_set(p):  # a one-element set is its element
        return equivalent(normalize(g.items[0]), p.text, budget)
    if _singleton(p) and g.kind == st.SCALAR and not _builds_set(g):
        return equivalent(g.text, normalize(p.items[0]), budget)
    if _builds_set(g) or _builds_set(p):  # \mathbb{R}\setminus\{0\}, \frac12\begin{pmatrix}..
        return symbolic(g.text, p.text, budget)
    if g.kind == st.UNION or p.kind == st.UNION:
        return g.kind == p.kind and _matched(g.items, p.items, lambda a, b: shapes_equal(a, b, budget))
    if g.kind in (st.MATRIX, st.DETERMINANT) or p.kind in (st.MATRIX, st.DETERMINANT):
        return g.kind == p.kind and _matrices(g, p, budget)
    if g.kind == st.INTERVAL or (g.kind == st.TUPLE and p.kind == st.INTERVAL):
        return p.brackets == g.brackets and _items(g.items, p.items, True, budget)
    if g.kind == st.TUPLE:
        if p.kind == st.TUPLE:
            return p.brackets == g.brackets and _items(g.items, p.items, True, budget)
        return p.kind == st.LIST and _items(g.items, p.items, True, budget)
    if g.kind == st.SET:
        return p.kind in (st.SET, st.LIST) and _items(g.items, p.items, False, budget)
    if g.kind == st.LIST:
        if p.kind in (st.SET, st.LIST) or (p.kind == st.TUPLE and p.brackets == ("(", ")")):
            return _items(g.items, p.items, False, budget)
        return False
    return False


def equivalent(gold: str, pred: str, budget: Budget) -> bool:
    """Equivalence of two normalised answers (see the module docstring)."""
    if gold == pred:
        return True
    return shapes_equal(st.parse(gold), st.parse(pred), budget)
