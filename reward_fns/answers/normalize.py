"""Canonical string form of an answer and exact values of numeric literals (stdlib only).

:func:`normalize` is the one normal form of the project: the math grader compares it, and
majority votes group answers by it (:mod:`reward_fns.answers.vote`).
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Optional

from reward_fns.answers.unicode import unicode_to_latex

ROW = "\\\\"  # matrix row separator, kept through normalisation
_ROW_MARK = "\x00"
_TEXT_CMDS = r"text|textbf|textit|textrm|textnormal|mathrm|mathbf|mbox|operatorname|mathit|mathsf"
_KNOWN_UNITS = (
    "degrees?", "cm\\^?\\{?[23]?\\}?", "m\\^\\{?[23]\\}?", "km", "mm", "meters?", "centimeters?", "inch(?:es)?",
    "feet", "foot", "ft", "miles?", "hours?", "hrs?", "minutes?", "mins?", "seconds?", "sec", "units?",
    "square units", "sq units", "dollars?", "cents?", "mph", "km/h", "m/s", "kg", "pounds?", "lbs?", "days?",
    "years?", "ways", "people", "points?", "liters?", "ml",
)
# a known unit right after a number (with or without a space): "12cm", "5 km"
_KNOWN_UNIT_RE = re.compile(r"(?<=[\d}.])\s*(?:" + "|".join(_KNOWN_UNITS) + r")\s*$")
# any word of three or more letters after a number and a space: "7 apples", "150 miles"
_WORD_UNIT_RE = re.compile(r"(?<=[\d}])\s+[A-Za-z]{3,}(?:\s+[A-Za-z]{2,})*(?:\^\{?\d\}?|/[A-Za-z]+)?\s*$")
# a \text{...} tail with letters after a number: "12 \text{ cm}^2", "2.5\text{ m/s}"
_TEXT_UNIT_RE = re.compile(
    r"(?<=[\d}.])\s*\\(?:" + _TEXT_CMDS + r")\s*\{[^{}]*[A-Za-z][^{}]*\}\s*(?:\^\s*\{?\s*\d\s*\}?)?\s*$"
)
_EMPTY_SET = re.compile(r"\\(?:varnothing|emptyset|O)(?![A-Za-z])|\\\{\s*\\\}|^\{\s*\}$")


def _strip_text_cmds(s: str) -> str:
    """``\\text{abc}`` -> ``abc`` (also ``\\mathrm``, ``\\mbox``, ``\\textbf``, ...; nested)."""
    prev = None
    while prev != s:
        prev = s
        s = re.sub(r"\\(?:" + _TEXT_CMDS + r")\s*\{([^{}]*)\}", r"\1", s)
    return s


def _strip_units(s: str) -> str:
    for _ in range(3):
        before = s
        s = _TEXT_UNIT_RE.sub("", s).strip()
        if s == before:
            break
    return s


_LT = r"(<|\\leq?|\\leqslant)"
_GT = r"(>|\\geq?|\\geqslant)"


def _inequality_to_interval(s: str) -> str:
    """``a < x \\le b`` -> ``(a,b]``; ``x > a`` -> ``(a,\\infty)``; ``x \\le b`` -> ``(-\\infty,b]``."""
    m = re.fullmatch(r"\s*([^\s,]+?)\s*" + _LT + r"\s*[a-zA-Z]\s*" + _LT + r"\s*([^\s,]+)\s*", s)
    if m:
        lo, op1, op2, hi = m.group(1), m.group(2), m.group(3), m.group(4)
        return ("(" if op1 == "<" else "[") + lo + "," + hi + (")" if op2 == "<" else "]")
    m = re.fullmatch(r"\s*[a-zA-Z]\s*" + _GT + r"\s*([^\s,]+)\s*", s)
    if m:
        return ("(" if m.group(1) == ">" else "[") + m.group(2) + ",\\infty)"
    m = re.fullmatch(r"\s*[a-zA-Z]\s*" + _LT + r"\s*([^\s,]+)\s*", s)
    if m:
        return "(-\\infty," + m.group(2) + (")" if m.group(1) == "<" else "]")
    return s


def _drop_left_side(s: str) -> str:
    """``x = 3`` -> ``3``; ``a+b = 12`` -> ``12``; ``(a, b) = (3, 4)`` -> ``(3,4)`` (one ``=``, a left
    side made of letters only)."""
    if s.count("=") != 1 or re.search(r"[<>]|\\[lg]eq?|\\neq", s):
        return s
    lhs, rhs = (part.strip() for part in s.split("="))
    if not rhs:
        return s
    if re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?", lhs):
        return rhs
    if re.fullmatch(r"\(\s*[A-Za-z](?:\s*,\s*[A-Za-z])+\s*\)", lhs):
        return rhs
    if re.fullmatch(r"[A-Za-z](?:\s*[-+*/]\s*[A-Za-z])+", lhs) and not re.search(r"[A-Za-z]", _strip_text_cmds(rhs)):
        return rhs
    return s


def normalize(ans: str) -> str:
    """Canonical string form used for exact comparison, structural splitting and votes.

    Unicode math -> LaTeX; removes ``$``, ``\\left``/``\\right``, spacing commands,
    ``\\displaystyle``, ``\\text{}`` wrappers, trailing units and degree marks, thousands
    separators, a left side ``x =`` (``a+b =``, ``(a,b) =``), trailing periods, all whitespace;
    ``\\dfrac``/``\\tfrac`` -> ``\\frac``, ``\\frac12`` -> ``\\frac{1}{2}``, every spelling of the
    empty set -> ``\\emptyset``, ``\\%`` -> ``%``; inequalities in one variable -> intervals.
    Matrix row separators ``\\\\`` survive (whitespace after them does not matter).
    """
    s = unicode_to_latex(str(ans)).strip()
    s = re.sub(r"(?<![\\A-Za-z])(?:infinity|infty)(?![A-Za-z])", r"\\infty", s)
    s = s.replace("\n", " ")
    s = s.replace("\\\\", _ROW_MARK)
    s = re.sub(_ROW_MARK + r"\s*\[\s*-?[\d.]+\s*(?:pt|em|ex|mm|cm|in)\s*\]", _ROW_MARK, s)  # \\[2pt]
    s = re.sub(r"\\\[|\\\]|\\\(|\\\)", "", s)
    s = s.replace("\\$", "").replace("$", "")
    s = re.sub(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![A-Za-z])", "", s)
    s = re.sub(r"\\[,;:! ]|~|\\quad|\\qquad", " ", s)
    s = re.sub(r"\\[dtc]frac(?![A-Za-z])", r"\\frac", s)
    s = s.replace("\\displaystyle", "")
    s = re.sub(r"\\le(?![A-Za-z])", r"\\leq", s)
    s = re.sub(r"\\ge(?![A-Za-z])", r"\\geq", s)
    s = re.sub(r"\\ne(?![A-Za-z])", r"\\neq", s)
    s = s.replace("\\lbrace", "\\{").replace("\\rbrace", "\\}")
    s = re.sub(r"\^\s*\{?\s*\\circ\s*\}?", "", s)
    s = re.sub(r"\\degree(?![A-Za-z])", "", s)
    s = _strip_units(re.sub(r"\s+", " ", s).strip())
    s = _strip_text_cmds(s)
    s = re.sub(r"\s+", " ", s).strip()
    for _ in range(2):
        s = _KNOWN_UNIT_RE.sub("", s).strip()
        s = _WORD_UNIT_RE.sub("", s).strip()
    s = s.rstrip(".").strip()
    # 1{,}000 and 1,000,000 (groups of exactly three digits) -> 1000000; "3 628 800" too
    s = s.replace("{,}", ",")
    s = re.sub(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+)(?![\d,])(?!\.\d*,)", lambda m: m.group(1).replace(",", ""), s)
    s = re.sub(r"(?<![\d.])(\d{1,3}(?: \d{3})+)(?![\d.])", lambda m: m.group(1).replace(" ", ""), s)
    s = re.sub(r"^\s*[a-zA-Z]\s*\\in\s*", "", s)  # "x \in (0, 1]" -> "(0, 1]"
    s = re.sub(r"\s+(?:and|or)\s+", ",", s)  # "3 and 4", "x=2 or x=3" -> lists
    s = _inequality_to_interval(s)
    s = _drop_left_side(s)
    s = re.sub(r"\s+", "", s)
    s = s.replace("\\%", "%")
    s = _EMPTY_SET.sub(r"\\emptyset", s)
    # \sqrt2 -> \sqrt{2}, \frac12 -> \frac{1}{2}
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\d)\{", r"\\frac{\1}{", s)
    return s.replace(_ROW_MARK, ROW)


def as_choice(s: str) -> Optional[str]:
    """``"(B)"``, ``"B"``, ``"B)"``, ``"\\text{(B)}"`` -> ``"B"``; else None."""
    s = _strip_text_cmds(s.strip().replace("$", "")).strip()
    m = re.fullmatch(r"\(?\s*([A-Ea-e])\s*\)?\.?", s)
    if m:
        return m.group(1).upper()
    return None


_DEC = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d{1,3})?"
_SCI = re.compile(r"(" + _DEC + r")(?:\\times|\\cdot|\*)10\^\{?([-+]?\d{1,3})\}?")
_POWER = re.compile(r"([-+]?)(\d{1,6})\^\{?(\d{1,4})\}?")
_MIXED = re.compile(r"([-+]?)(\d+)\\frac\{(\d+)\}\{(\d+)\}")
MAX_POWER_DIGITS = 400


def to_rational(s: str) -> Optional[Fraction]:
    """Exact value of a plain numeric literal in normalised form, else None.

    Integers (leading zeros: AIME ``007``), decimals, scientific notation (``6.02e23``,
    ``3.2\\times10^{4}``), small integer powers (``2^{10}``), ``a/b``, ``\\frac{a}{b}`` with
    a sign in front or on top, mixed numbers (``2\\frac{1}{2}`` = 5/2) and repeating decimals
    (``0.1\\overline{6}`` = 1/6). A percent sign is not read here (it is a unit for the grader).
    """
    try:
        rep = re.fullmatch(r"([-+]?)(\d*)\.(\d*)\\overline\{(\d{1,12})\}", s)
        if rep:
            sign, ip, nr, r = rep.groups()
            val = Fraction(int(ip or 0)) + Fraction(int(nr or 0), 10 ** len(nr))
            val += Fraction(int(r), (10 ** len(r) - 1) * 10 ** len(nr))
            return -val if sign == "-" else val
        if re.fullmatch(_DEC, s):
            return Fraction(s)
        m = _SCI.fullmatch(s)
        if m:
            return Fraction(m.group(1)) * Fraction(10) ** int(m.group(2))
        m = _POWER.fullmatch(s)
        if m:
            base, exp = int(m.group(2)), int(m.group(3))
            if exp * len(str(base)) > MAX_POWER_DIGITS:
                return None
            val = Fraction(base) ** exp
            return -val if m.group(1) == "-" else val
        m = _MIXED.fullmatch(s)
        if m and int(m.group(4)) != 0 and int(m.group(3)) < int(m.group(4)):
            val = int(m.group(2)) + Fraction(int(m.group(3)), int(m.group(4)))
            return -val if m.group(1) == "-" else val
        m = re.fullmatch(r"([-+]?)\\frac\{(" + _DEC + r")\}\{(" + _DEC + r")\}", s)
        if m is None:
            m = re.fullmatch(r"([-+]?)\(?(" + _DEC + r")\)?/\(?(" + _DEC + r")\)?", s)
        if m is not None:
            den = Fraction(m.group(3))
            if den == 0:
                return None
            val = Fraction(m.group(2)) / den
            return -val if m.group(1) == "-" else val
        return None
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def format_rational(value: Fraction) -> str:
    """One spelling per exact number: ``5``, ``-\\frac{3}{4}``."""
    if value.denominator == 1:
        return str(value.numerator)
    sign = "-" if value < 0 else ""
    return "%s\\frac{%d}{%d}" % (sign, abs(value.numerator), value.denominator)


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


def encloses(s: str, open_len: int, close_len: int) -> bool:
    """Whether the first ``open_len`` and last ``close_len`` characters of ``s`` are one bracket
    pair around everything (true for ``(1,2)``, false for ``(1,2)\\cup(3,4)``)."""
    depth = 0
    for ch in s[open_len : len(s) - close_len]:
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
