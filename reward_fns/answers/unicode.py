"""Unicode math as LaTeX: ``√12`` -> ``\\sqrt{12}``, ``½`` -> ``\\frac{1}{2}``, ``−`` -> ``-`` (stdlib only)."""

from __future__ import annotations

import re

_SYMBOLS = {
    "\u2212": "-", "\u2013": "-", "\u2012": "-", "\u2010": "-", "\u2011": "-",
    "\u00d7": "\\times ", "\u22c5": "\\cdot ", "\u00b7": "\\cdot ", "\u2219": "\\cdot ", "\u00f7": "\\div ",
    "\u03c0": "\\pi ", "\u221e": "\\infty ", "\u2264": "\\leq ", "\u2266": "\\leq ", "\u2265": "\\geq ",
    "\u2267": "\\geq ", "\u2260": "\\neq ", "\u00b1": "\\pm ", "\u2213": "\\mp ", "\u2205": "\\emptyset ",
    "\u222a": "\\cup ", "\u2229": "\\cap ", "\u2208": "\\in ", "\u2216": "\\setminus ", "\u211d": "\\mathbb{R}",
    "\u2124": "\\mathbb{Z}", "\u2115": "\\mathbb{N}", "\u211a": "\\mathbb{Q}", "\u2102": "\\mathbb{C}",
    "\u00b0": "^\\circ", "\u2218": "^\\circ", "\u03b1": "\\alpha ", "\u03b2": "\\beta ", "\u03b3": "\\gamma ",
    "\u03b8": "\\theta ", "\u03bb": "\\lambda ", "\u03bc": "\\mu ", "\u03c3": "\\sigma ", "\u03c6": "\\phi ",
    "\u03c9": "\\omega ", "\u0394": "\\Delta ", "\u2032": "'", "\u00a0": " ", "\u2009": " ", "\u202f": " ",
    "\u2007": " ", "\u200b": "", "\uff0c": ",", "\uff1a": ":", "\uff08": "(", "\uff09": ")",
}
_VULGAR = {
    "\u00bd": (1, 2), "\u2153": (1, 3), "\u2154": (2, 3), "\u00bc": (1, 4), "\u00be": (3, 4), "\u2155": (1, 5),
    "\u2156": (2, 5), "\u2157": (3, 5), "\u2158": (4, 5), "\u2159": (1, 6), "\u215a": (5, 6), "\u2150": (1, 7),
    "\u215b": (1, 8), "\u215c": (3, 8), "\u215d": (5, 8), "\u215e": (7, 8), "\u2151": (1, 9), "\u2152": (1, 10),
}
_SUPERSCRIPTS = dict(zip("\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079\u207b\u207a", "0123456789-+"))
_SUPER_RUN = re.compile("[" + "".join(_SUPERSCRIPTS) + "]+")
_ROOTS = {"\u221a": "\\sqrt", "\u221b": "\\sqrt[3]", "\u221c": "\\sqrt[4]"}


def _root_argument(s: str, i: int) -> tuple[str, int]:
    """The radicand starting at ``s[i]`` and the index after it: ``(...)``, ``{...}``, a number,
    a LaTeX command or one letter."""
    if i < len(s) and s[i] in "({":
        depth = 0
        for j in range(i, len(s)):
            if s[j] in "({":
                depth += 1
            elif s[j] in ")}":
                depth -= 1
                if depth == 0:
                    inner = s[i + 1 : j]
                    return inner, j + 1
        return s[i + 1 :], len(s)
    m = re.match(r"\d+(?:\.\d+)?|\\[A-Za-z]+|[A-Za-z]", s[i:])
    if m:
        return m.group(0), i + m.end()
    return "", i


def _roots(s: str) -> str:
    out = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in _ROOTS:
            j = i + 1
            while j < len(s) and s[j] == " ":
                j += 1
            arg, end = _root_argument(s, j)
            out.append(_ROOTS[ch] + "{" + arg + "}")
            i = end
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def unicode_to_latex(s: str) -> str:
    """Replace the Unicode math symbols models write by their LaTeX spelling.

    Roots take their radicand (``√(16 − 4)`` -> ``\\sqrt{16 - 4}``, ``2√3`` -> ``2\\sqrt{3}``),
    superscript digits become ``^{..}``, vulgar fractions ``\\frac{a}{b}``, ``π`` ``\\pi``, ``∅``
    ``\\emptyset``, the minus sign ``-``, ``×`` ``\\times``, ``°`` ``^\\circ``.
    """
    if s.isascii():
        return s
    for ch, rep in _SYMBOLS.items():
        if ch in s:
            s = s.replace(ch, rep)
    for ch, (a, b) in _VULGAR.items():
        if ch in s:
            s = s.replace(ch, "\\frac{%d}{%d}" % (a, b))
    s = _SUPER_RUN.sub(lambda m: "^{" + "".join(_SUPERSCRIPTS[c] for c in m.group(0)) + "}", s)
    if any(ch in s for ch in _ROOTS):
        s = _roots(s)
    return s
