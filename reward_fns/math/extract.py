"""Answer extraction from a model's math response (pure string code, no sympy)."""

from __future__ import annotations

import re
from typing import Optional

_BOX_CMDS = ("\\boxed", "\\fbox")


def _braced(text: str, open_idx: int) -> Optional[tuple[str, int]]:
    """Content of the brace group starting at ``text[open_idx] == '{'`` and the index after it."""
    depth = 0
    for i in range(open_idx, len(text)):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
            continue
        if ch == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif ch == "}" and (i == 0 or text[i - 1] != "\\"):
            depth -= 1
            if depth == 0:
                return text[open_idx + 1 : i], i + 1
    return None


def last_boxed(text: str) -> Optional[str]:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces ok; ``\\boxed 5`` too)."""
    best_pos, best = -1, None
    for cmd in _BOX_CMDS:
        pos = text.rfind(cmd)
        while pos != -1:
            after = pos + len(cmd)
            # skip "\boxedx" style prefixes of other commands
            rest = text[after:]
            stripped = rest.lstrip()
            content = None
            if stripped.startswith("{"):
                got = _braced(text, after + (len(rest) - len(stripped)))
                if got is not None:
                    content = got[0]
            elif rest.startswith(" ") and stripped:
                m = re.match(r"[^\s$]+", stripped)
                content = m.group(0) if m else None
            if content is not None:
                if pos > best_pos:
                    best_pos, best = pos, content
                break
            pos = text.rfind(cmd, 0, pos)
    return best


_ANSWER_IS = re.compile(
    r"(?:final answer|the answer|answer)\s*(?:is|:|=)\s*[:\s]*(.+?)(?:\n|$)", re.IGNORECASE
)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")


def _clean_tail(ans: str) -> str:
    ans = ans.strip()
    ans = re.sub(r"^\$+|\$+$", "", ans).strip()
    ans = re.sub(r"^\\\(|\\\)$", "", ans).strip()
    ans = re.sub(r"^\\\[|\\\]$", "", ans).strip()
    ans = ans.rstrip(" .;")
    ans = re.sub(r"^\*\*|\*\*$", "", ans).strip()
    ans = re.sub(r"^\$+|\$+$", "", ans).strip()
    return ans


def extract_answer(text: str) -> tuple[Optional[str], str]:
    """The final answer in ``text`` and how it was found.

    Order: last ``\\boxed{}``/``\\fbox{}``; last "the answer is ..." / "Answer: ..."; the last
    number in the text. Returns ``(answer, method)`` with method in
    ``boxed | answer_is | last_number | none``.
    """
    if not text:
        return None, "none"
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip(), "boxed"
    matches = list(_ANSWER_IS.finditer(text))
    if matches:
        ans = _clean_tail(matches[-1].group(1))
        if ans:
            return ans, "answer_is"
    nums = _NUMBER.findall(text)
    if nums:
        return nums[-1].rstrip(".,"), "last_number"
    return None, "none"
