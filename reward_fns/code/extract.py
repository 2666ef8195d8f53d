"""Pull the program out of a model's answer."""

from __future__ import annotations

import re
from typing import Optional

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def extract_code(text: Optional[str]) -> str:
    """The code to run: the last fenced ``python``/``py``/``python3`` block; else the last fenced
    block of any (or no) language; else an unterminated trailing fence; else the text itself."""
    if not text:
        return ""
    blocks = _FENCE.findall(text)
    py = [body for lang, body in blocks if lang.lower() in ("python", "py", "python3")]
    if py:
        return py[-1]
    if blocks:
        return blocks[-1][1]
    m = re.search(r"```[ \t]*(?:python3?|py)?[^\n]*\n(.*)$", text, re.DOTALL)
    if m:
        return m.group(1)
    return text
