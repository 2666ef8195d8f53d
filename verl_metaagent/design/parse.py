"""Extract the design script from the designer's answer.

Accepted shapes, in order of preference:

1. ``<code> ... </code>`` (the release's format); its content may itself be a fenced python
   block. With several ``<code>`` blocks the last non-empty one that looks like a design wins
   (earlier ones are usually drafts or quoted examples).
2. Fenced blocks (```python / ```py / ```); the last one that looks like a design wins, else
   the longest.
3. Bare code: the whole answer (minus a ``<think>`` section) when it parses as Python.

A block "looks like a design" when it calls ``finish(`` or ``.run(`` or imports our API or
the ``workflow`` dialect. ``<think>...</think>`` is removed first (and everything before a lone ``</think>``, as when
the chat template opened the think block in the prompt), so code drafted while thinking is
never picked.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Optional

__all__ = ["ParsedDesign", "parse_design"]


@dataclass
class ParsedDesign:
    """Result of :func:`parse_design`: ``code`` (None on failure) and an ``error`` reason."""

    code: Optional[str]
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        """True when code was found."""
        return self.code is not None


_THINK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_CODE_TAG = re.compile(r"<code>(.*?)(?:</code>|\Z)", re.DOTALL | re.IGNORECASE)
# Fences are line-anchored so that a ``` inside a string of the design (an agent prompt that
# says "reply with one ```python block") does not end the block.
_FENCE = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_DESIGN_HINT = re.compile(r"\bfinish\s*\(|\.run\s*\(|verl_metaagent\.design|^\s*(?:from|import)\s+workflow\b",
                          re.MULTILINE)


def _looks_like_design(code: str) -> bool:
    return bool(_DESIGN_HINT.search(code))


def _unwrap_tag(tag: str) -> Optional[str]:
    """Content of a <code> tag that is exactly one fenced block (fence lines removed), else None."""
    body = tag.strip()
    if not body.startswith("```"):
        return None
    first_nl = body.find("\n")
    if first_nl < 0 or body[3:first_nl].strip().lower() not in ("", "python", "python3", "py"):
        return None
    inner = body[first_nl + 1 :]
    if inner.rstrip().endswith("```"):
        inner = inner.rstrip()[:-3]
    return inner


def _fenced(text: str) -> list[str]:
    out = []
    for lang, body in _FENCE.findall(text):
        if lang.lower() in ("", "python", "python3", "py") and body.strip():
            out.append(body)
    return out


def _choose(blocks: list[str]) -> Optional[str]:
    blocks = [b for b in blocks if b.strip()]
    if not blocks:
        return None
    designs = [b for b in blocks if _looks_like_design(b)]
    if designs:
        return designs[-1]
    return max(blocks, key=len)


def _clean(code: str) -> str:
    lines = code.strip("\n").splitlines()
    # dedent a uniformly indented block
    indents = [len(line) - len(line.lstrip()) for line in lines if line.strip()]
    cut = min(indents) if indents else 0
    return "\n".join(line[cut:] for line in lines).rstrip() + "\n"


def parse_design(text: Optional[str]) -> ParsedDesign:
    """Return the design code in the designer's answer ``text`` or a precise error."""
    if text is None or not str(text).strip():
        return ParsedDesign(None, "empty designer answer")
    text = str(text)
    body = _THINK.sub("", text)
    if "</think>" in body.lower():
        # the chat template opened <think> in the prompt: drop the reasoning before the close tag
        body = body[body.lower().rindex("</think>") + len("</think>") :]
    if not body.strip():
        return ParsedDesign(None, "the answer has only a <think> section (no code after </think>)")

    tags = _CODE_TAG.findall(body)
    if tags:
        candidates = []
        for tag in tags:
            whole = _unwrap_tag(tag)
            if whole is not None:
                candidates.append(whole)
                continue
            fenced = _fenced(tag)
            candidates.append(_choose(fenced) if fenced else tag)
        chosen = _choose([c for c in candidates if c])
        if chosen is None:
            return ParsedDesign(None, "<code> block is empty")
        return ParsedDesign(_clean(chosen))

    fenced = _fenced(body)
    if fenced:
        return ParsedDesign(_clean(_choose(fenced)))
    bare = body.strip()
    try:
        ast.parse(bare)
    except SyntaxError:
        if "```" in body:
            return ParsedDesign(None, "fenced block is not python (expected ```python)")
        return ParsedDesign(None, "no <code> block, no ```python block, and the answer is not Python code")
    if not _looks_like_design(bare):
        return ParsedDesign(None, "no <code> block or ```python block found, "
                            "and the bare text is not a design (no finish(...) or workflow.run(...))")
    return ParsedDesign(_clean(bare))
