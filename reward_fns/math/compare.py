"""Equivalence of two normalised answers: shapes first, then exact numbers, then sympy.

Rules (the written rules of ``tests/reward_fns/data/independent/README.md``):

* numbers compare exactly (``995`` is not ``999``, ``0.333`` is not ``1/3``); a percent sign is a
  unit (``25\\%`` = ``25``, and ``25\\%`` is not ``0.25``);
* sets, bare solution lists and ``a \\pm b`` are sets of solutions (order free, an element
  written twice counts once, a one-element set is its element: ``\\{3\\}`` = ``3``, but the empty
  set is no number); tuples are ordered; intervals need the same brackets; a union of intervals
  (or inequalities joined by "or") is a set of pieces in any order;
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


def _same_items(budget: Budget):
    def same(a: str, b: str) -> bool:
        return equivalent(normalize(a), normalize(b), budget)

    return same


def _ordered(golds, preds, budget: Budget) -> bool:
    same = _same_items(budget)
    return len(golds) == len(preds) and all(same(a, b) for a, b in zip(golds, preds))


def _same_set(golds, preds, budget: Budget) -> bool:
    """Set equality: every gold element is some answer element and the reverse (so an element
    written twice, ``\\frac12`` and ``0.5``, counts once)."""
    same = _same_items(budget)
    return all(any(same(g, p) for p in preds) for g in golds) and all(any(same(g, p) for g in golds) for p in preds)


def _matrices(g: st.Shape, p: st.Shape, budget: Budget) -> bool:
    if len(g.rows) != len(p.rows) or any(len(a) != len(b) for a, b in zip(g.rows, p.rows)):
        return False
    return all(_ordered(a, b, budget) for a, b in zip(g.rows, p.rows))


def _builds_set(shape: st.Shape) -> bool:
    return shape.kind == st.SCALAR and bool(_SET_BUILDERS.search(shape.text))


def _as_union(shape: st.Shape) -> st.Shape:
    """A list of inequalities (``x < -2 or x > 3``) is the union of their intervals."""
    if shape.kind != st.LIST:
        return shape
    pieces = tuple(st.parse(normalize(item)) for item in shape.items)
    if all(p.kind == st.INTERVAL for p in pieces):
        return st.Shape(st.UNION, shape.text, items=pieces)
    return shape


_UNORDERED = (st.SET, st.LIST)


def _elements(shape: st.Shape):
    """Elements of a solution set (a scalar is a one-element one); None for other shapes."""
    if shape.kind in _UNORDERED:
        return shape.items
    return (shape.text,) if shape.kind == st.SCALAR else None


def shapes_equal(g: st.Shape, p: st.Shape, budget: Budget) -> bool:
    """Equivalence of two parsed answers (``g`` the gold)."""
    if g.text == p.text:
        return True
    if g.kind == st.SCALAR and p.kind == st.SCALAR:
        return scalar_equal(g.text, p.text, budget)
    if _builds_set(g) or _builds_set(p):  # \mathbb{R}\setminus\{0\}, \emptyset, \frac12\begin{pmatrix}..
        return symbolic(g.text, p.text, budget)
    if g.kind == st.UNION or p.kind == st.UNION:
        g, p = _as_union(g), _as_union(p)
        return g.kind == p.kind and _matched(g.items, p.items, lambda a, b: shapes_equal(a, b, budget))
    if g.kind in (st.MATRIX, st.DETERMINANT) or p.kind in (st.MATRIX, st.DETERMINANT):
        return g.kind == p.kind and _matrices(g, p, budget)
    if g.kind == st.INTERVAL or (g.kind == st.TUPLE and p.kind == st.INTERVAL):
        return p.brackets == g.brackets and _ordered(g.items, p.items, budget)
    if g.kind == st.TUPLE:
        if p.kind == st.TUPLE:
            return p.brackets == g.brackets and _ordered(g.items, p.items, budget)
        return p.kind == st.LIST and _ordered(g.items, p.items, budget)
    if g.kind == st.SET and p.kind not in _UNORDERED + (st.SCALAR,):
        return False  # a set is no tuple or interval
    if g.kind == st.LIST and p.kind == st.TUPLE and p.brackets == ("(", ")"):
        return _same_set(g.items, p.items, budget)  # solutions written as (a, b)
    golds, preds = _elements(g), _elements(p)
    if golds is None or preds is None:
        return False
    return _same_set(golds, preds, budget)


def equivalent(gold: str, pred: str, budget: Budget) -> bool:
    """Equivalence of two normalised answers (see the module docstring)."""
    if gold == pred:
        return True
    return shapes_equal(st.parse(gold), st.parse(pred), budget)
