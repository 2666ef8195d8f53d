"""String normalisation and exact rational parsing of math answers (no sympy here)."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Optional

_UNIT_WORDS = (
    "degrees?", "cm\\^?2?", "m\\^?2?", "km", "mm", "meters?", "centimeters?", "inches", "inch", "feet", "foot",
    "ft", "miles?", "hours?", "minutes?", "seconds?", "sec", "units?", "square units", "sq units", "dollars?",
    "cents?", "mph", "km/h", "kg", "g", "pounds?", "lbs?", "days?", "years?", "ways", "people", "points?",
)
_UNIT_RE = re.compile(r"(?<=[\d}])\s*(?:\\(?:text|mbox|mathrm)\{\s*)?(?:" + "|".join(_UNIT_WORDS) + r")\s*\}?\s*$")


def _strip_text_cmds(s: str) -> str:
    # \text{abc} -> abc (repeat for nesting); \mathrm, \mathbf, \mbox, \textbf likewise
    prev = None
    while prev != s:
        prev = s
        s = re.sub(r"\\(?:text|textbf|textit|mathrm|mathbf|mbox|operatorname|mathit)\s*\{([^{}]*)\}", r"\1", s)
    return s


def normalize(ans: str) -> str:
    """Canonical string form used for cheap exact comparison and structural splitting.

    Removes ``$``, ``\\left``/``\\right``, spacing commands, ``\\dfrac``/``\\tfrac`` -> ``\\frac``,
    ``\\text{}`` wrappers, trailing units and degree marks, thousands separators, ``x =``
    prefixes (single variable), trailing periods; collapses whitespace.
    """
    s = ans.strip()
    s = s.replace("\n", " ")
    s = re.sub(r"\\\[|\\\]|\\\(|\\\)", "", s)
    s = s.replace("\\$", "").replace("$", "")
    s = s.replace("\\left", "").replace("\\right", "")
    s = re.sub(r"\\[,;:! ]|~", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\cfrac", "\\frac")
    s = s.replace("\\displaystyle", "")
    s = s.replace("\\le ", "\\leq ").replace("\\ge ", "\\geq ")
    s = s.replace("\\lbrace", "\\{").replace("\\rbrace", "\\}")
    s = s.replace("∞", "\\infty").replace("π", "\\pi").replace("−", "-")
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "", s)
    s = s.replace("°", "").replace("\\degree", "")
    s = _strip_text_cmds(s)
    s = re.sub(r"\\\$", "", s)
    s = re.sub(r"\s+", " ", s).strip()
    for _ in range(2):
        s = _UNIT_RE.sub("", s).strip()
    s = s.rstrip(".").strip()
    # 1{,}000 and 1,000,000 (groups of exactly three digits) -> 1000000
    s = s.replace("{,}", ",")
    s = re.sub(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,])(?!\.\d*,)", lambda m: m.group(1).replace(",", ""), s)
    s = re.sub(r"^\s*[a-zA-Z]\s*\\in\s*", "", s)  # "x \in (0, 1]" -> "(0, 1]"
    s = re.sub(r"\s+(?:and|or)\s+", ",", s)  # "3 and 4", "x=2 or x=3" -> lists
    s = _inequality_to_interval(s)
    # single equation with a simple left side: "x = 3" -> "3"  (not for "x=1, y=2": handled by split)
    m = re.fullmatch(r"\s*[a-zA-Z](?:_\{?\w+\}?)?\s*=\s*([^=<>]+)", s)
    if m:
        s = m.group(1).strip()
    s = re.sub(r"\s+", "", s)
    s = s.replace("\\%", "%")
    # \sqrt2 -> \sqrt{2}, \frac12 -> \frac{1}{2}
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    return s


_LT = r"(<|\\leq?|\\leqslant|≤)"
_GT = r"(>|\\geq?|\\geqslant|≥)"


def _inequality_to_interval(s: str) -> str:
    """``a < x \\le b`` -> ``(a,b]``; ``x > a`` -> ``(a,\\infty)``; ``x \\le b`` -> ``(-\\infty,b]``."""
    m = re.fullmatch(r"\s*(\S+?)\s*" + _LT + r"\s*[a-zA-Z]\s*" + _LT + r"\s*(\S+)\s*", s)
    if m:
        lo, op1, op2, hi = m.group(1), m.group(2), m.group(3), m.group(4)
        return ("(" if op1 == "<" else "[") + lo + "," + hi + (")" if op2 == "<" else "]")
    m = re.fullmatch(r"\s*[a-zA-Z]\s*" + _GT + r"\s*(\S+)\s*", s)
    if m:
        return ("(" if m.group(1) == ">" else "[") + m.group(2) + ",\\infty)"
    m = re.fullmatch(r"\s*[a-zA-Z]\s*" + _LT + r"\s*(\S+)\s*", s)
    if m:
        return "(-\\infty," + m.group(2) + (")" if m.group(1) == "<" else "]")
    return s


_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?(?:[.:)]|$)")


def as_choice(s: str) -> Optional[str]:
    """``"(B)"``, ``"B"``, ``"B)"``, ``"\\text{(B)}"`` -> ``"B"``; else None."""
    s = _strip_text_cmds(s.strip().replace("$", "")).strip()
    m = re.fullmatch(r"\(?\s*([A-Ea-e])\s*\)?\.?", s)
    if m:
        return m.group(1).upper()
    return None


_DEC = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?"


def to_rational(s: str) -> Optional[Fraction]:
    """Exact value of a plain numeric literal in normalised form, else None.

    Accepts integers (leading zeros, AIME ``007``), decimals, ``a/b``, ``\\frac{a}{b}``,
    ``-\\frac{a}{b}``, ``\\frac{-a}{b}``, and a trailing ``%`` (value / 100).
    """
    pct = False
    if s.endswith("%"):
        pct, s = True, s[:-1]
    try:
        val: Optional[Fraction] = None
        rep = re.fullmatch(r"([-+]?)(\d*)\.(\d*)\\overline\{(\d{1,12})\}", s)
        if rep:  # repeating decimal 0.1\overline{6} = 1/6
            sign, ip, nr, r = rep.groups()
            val = Fraction(int(ip or 0)) + Fraction(int(nr or 0), 10 ** len(nr))
            val += Fraction(int(r), (10 ** len(r) - 1) * 10 ** len(nr))
            val = -val if sign == "-" else val
        elif re.fullmatch(_DEC, s):
            val = Fraction(s)
        else:
            m = re.fullmatch(r"([-+]?)\\frac\{(" + _DEC + r")\}\{(" + _DEC + r")\}", s)
            if m is None:
                m = re.fullmatch(r"([-+]?)\(?(" + _DEC + r")\)?/\(?(" + _DEC + r")\)?", s)
            if m is not None:
                den = Fraction(m.group(3))
                if den == 0:
                    return None
                val = Fraction(m.group(2)) / den
                if m.group(1) == "-":
                    val = -val
        if val is None:
            return None
        return val / 100 if pct else val
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


_OPEN = "([{"
_CLOSE = ")]}"


def split_top(s: str, sep: str = ",") -> list[str]:
    """Split on ``sep`` at bracket depth 0 (``\\{``/``\\}`` count as brackets)."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(s):
        ch = s[i]
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        if depth == 0 and s.startswith(sep, i):
            parts.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _matching_outer(s: str, open_len: int, close_len: int) -> bool:
    # the outer brackets enclose everything (not "(1,2)\cup(3,4)")
    depth = 0
    inner = s[open_len: len(s) - close_len]
    for ch in inner:
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def structure(s: str) -> tuple[str, list[str], str]:
    """``(open, items, close)`` for bracketed / comma lists; scalars give ``("", [s], "")``.

    Set braces ``\\{..\\}`` become ``("{", items, "}")``; a bare top-level comma list becomes
    ``("", items, "")`` (an unbracketed list of answers).
    """
    if s.startswith("\\{") and s.endswith("\\}") and _matching_outer(s, 2, 2):
        return "{", [p for p in split_top(s[2:-2])], "}"
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _matching_outer(s, 1, 1):
        items = split_top(s[1:-1])
        if len(items) >= 2:
            return s[0], items, s[-1]
    items = split_top(s)
    if len(items) >= 2:
        return "", items, ""
    return "", [s], ""
