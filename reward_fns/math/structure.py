"""What shape a normalised answer has: a number or expression, a set, a tuple, an interval, a
union of intervals, a matrix, or a list of solutions (pure string code, no sympy).

:func:`parse` reads the string made by :func:`reward_fns.answers.normalize`; the comparison of
two shapes lives in :mod:`reward_fns.math.compare`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from reward_fns.answers.normalize import ROW, encloses, split_top

SCALAR = "scalar"  # a number or an expression
LIST = "list"  # bare "a, b" or a ± pair: solutions, order does not matter
SET = "set"  # \{a, b\}
TUPLE = "tuple"  # (a, b, c) or [a, b, c]: order matters; (a, b) may also be an open interval
INTERVAL = "interval"  # [a, b], (a, b], [a, b), anything with an infinite end
UNION = "union"  # pieces joined by \cup
MATRIX = "matrix"  # \begin{pmatrix|bmatrix|Bmatrix|matrix|smallmatrix} (all the same object)
DETERMINANT = "determinant"  # \begin{vmatrix} / Vmatrix: a number written as a determinant

_MATRIX = re.compile(r"\\begin\{([a-zA-Z]*)matrix\}(.*)\\end\{\1matrix\}")
_ARRAY = re.compile(r"\\begin\{array\}\{[lcr|]*\}(.*)\\end\{array\}")
_INFINITY = re.compile(r"^[-+]?\\infty$")


@dataclass(frozen=True)
class Shape:
    """A parsed answer: ``kind`` (one of the module constants), ``items`` (element strings, or the
    pieces of a union as Shapes), ``rows`` (matrix entries), ``brackets`` (open, close)."""

    kind: str
    text: str
    items: tuple = ()
    rows: tuple = ()
    brackets: tuple = ("", "")


def _matrix(s: str) -> Optional[Shape]:
    """A matrix environment, also inside brackets (``\\left[\\begin{matrix}..\\end{matrix}\\right]``,
    ``(\\begin{array}{cc}..\\end{array})``)."""
    inner = s
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and encloses(s, 1, 1):
        inner = s[1:-1]
    m = _MATRIX.fullmatch(inner)
    if m is not None:
        body, kind = m.group(2), m.group(1)
    else:
        a = _ARRAY.fullmatch(inner)
        if a is None:
            return None
        body, kind = a.group(1), ""
    rows = split_top(body, ROW)
    while rows and not rows[-1].strip():
        rows.pop()
    cells = tuple(tuple(split_top(r, "&")) for r in rows)
    return Shape(DETERMINANT if kind in ("v", "V") else MATRIX, s, rows=cells)


def expand_plus_minus(item: str) -> list[str]:
    """``a\\pm b`` -> ``[a+b, a-b]`` (one ``\\pm`` or ``\\mp`` anywhere); other items unchanged."""
    count = item.count("\\pm") + item.count("\\mp")
    if count != 1:
        return [item]
    if "\\pm" in item:
        return [item.replace("\\pm", "+"), item.replace("\\pm", "-")]
    return [item.replace("\\mp", "-"), item.replace("\\mp", "+")]


def _is_interval(items: list[str], open_: str, close: str) -> bool:
    if len(items) != 2:
        return False
    if (open_, close) != ("(", ")"):
        return True  # [a,b], (a,b], [a,b)
    return any(_INFINITY.match(x) for x in items)


def parse(s: str) -> Shape:
    """The shape of the normalised answer ``s``."""
    matrix = _matrix(s)
    if matrix is not None:
        return matrix
    pieces = split_top(s, "\\cup")
    if len(pieces) > 1 and all(pieces):
        return Shape(UNION, s, items=tuple(parse(p) for p in pieces))
    if s.startswith("\\{") and s.endswith("\\}") and encloses(s, 2, 2):
        inner = s[2:-2]
        items = [x for item in split_top(inner) for x in expand_plus_minus(item)] if inner else []
        return Shape(SET, s, items=tuple(items), brackets=("{", "}"))
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and encloses(s, 1, 1):
        items = split_top(s[1:-1])
        if len(items) >= 2:
            kind = INTERVAL if _is_interval(items, s[0], s[-1]) else TUPLE
            return Shape(kind, s, items=tuple(items), brackets=(s[0], s[-1]))
    items = split_top(s)
    if len(items) >= 2:
        return Shape(LIST, s, items=tuple(x for item in items for x in expand_plus_minus(item)))
    pm = expand_plus_minus(s)
    if len(pm) == 2:
        return Shape(LIST, s, items=tuple(pm))
    return Shape(SCALAR, s)
