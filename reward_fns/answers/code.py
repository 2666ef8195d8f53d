"""Pull the program out of a model's reply (stdlib only)."""

from __future__ import annotations

import re
from typing import Optional

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
_OPEN_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*)$", re.DOTALL)
PYTHON_TAGS = ("python", "py", "python3")


def extract_code(text: Optional[str]) -> Optional[str]:
    """The program in ``text``: the last fenced ``python``/``py``/``python3`` block; else the last
    block without a language; else the last fenced block of any language; else an unterminated
    trailing python (or untagged) fence (a truncated reply). None when there is no fence.

    The block is returned without leading/trailing blank lines and with one final newline.
    """
    if not text:
        return None
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(str(text)) if body.strip()]
    for wanted in (lambda tag: tag in PYTHON_TAGS, lambda tag: tag == "", lambda tag: True):
        chosen = [body for tag, body in blocks if wanted(tag)]
        if chosen:
            return chosen[-1].strip("\n") + "\n"
    tail = str(text).rsplit("```", 1)
    if len(tail) == 2:
        m = _OPEN_FENCE.match("```" + tail[1])
        if m and m.group(1).strip():
            return m.group(1).strip("\n") + "\n"
    return None
