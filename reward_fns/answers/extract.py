"""Find the final answer in a model's response (pure string code, stdlib only).

Rules, in order (:func:`find_answer`):

1. The last **complete** ``\\boxed{...}`` / ``\\fbox{...}`` (nested braces; a box inside ``$...$``
   or ``\\text{...}`` counts; ``\\boxed 5`` too). A box that never closes (a truncated response)
   is never an answer, and nothing written inside it is read.
2. Otherwise the last **answer sentence** before any unclosed box: GSM8K's ``#### N``,
   "Final Answer: ...", "The final answer is X", "The answer is X", "Answer: X". Only the answer
   itself is taken: a ``$...$`` span, or the words up to the end of the sentence (so Minerva's
   "The final answer is $X$. I hope it is correct." gives ``X``, and prose after the answer
   sentence is dropped).
3. Otherwise a **bare answer**: the whole text when it is a short formula without prose
   (``"204"``, ``"$x = 5$"``, ``"(1, 2]"``); words are no bare answer (a reply "unsure" has none).
4. Only when asked (``last_number=True``, as the graders do): for a one-line reply of at most 100
   characters without an unclosed box, its last number (``"so 12 in total"``). Longer responses
   without any of the above have no answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

BOX_COMMANDS = ("\\boxed", "\\fbox")
_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
MAX_LAST_NUMBER_REPLY = 100


@dataclass(frozen=True)
class Box:
    """One ``\\boxed``/``\\fbox`` occurrence: ``start`` of the command, ``content`` (None when the
    box never closes)."""

    start: int
    content: Optional[str]

    @property
    def complete(self) -> bool:
        return self.content is not None


@dataclass(frozen=True)
class Found:
    """The answer found in a response and how: ``method`` is ``boxed``, ``gsm8k``,
    ``answer_sentence``, ``bare``, ``last_number`` or ``none``; ``unclosed_box`` tells whether the
    response ends inside a box that never closes."""

    answer: Optional[str]
    method: str
    unclosed_box: bool = False


def _brace_group(text: str, open_idx: int) -> Optional[tuple[str, int]]:
    """Content of the brace group opening at ``text[open_idx] == '{'`` and the index after it.

    ``\\{`` and ``\\}`` (escaped braces) do not count. None if the group never closes.
    """
    depth = 0
    i = open_idx
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in "{}\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_idx + 1 : i], i + 1
        i += 1
    return None


def boxes(text: str) -> list[Box]:
    """Every box command in ``text`` in order, complete or not."""
    out = []
    for m in _BOX.finditer(text or ""):
        rest_start = m.end()
        j = rest_start
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            got = _brace_group(text, j)
            out.append(Box(m.start(), got[0] if got else None))
        elif j > rest_start and j < len(text):  # "\boxed 5": one token after a space
            tok = re.match(r"[^\s$]+", text[j:])
            out.append(Box(m.start(), tok.group(0).rstrip(".,;") if tok else None))
        else:  # "\boxed" at the very end, or followed by something that is no argument
            out.append(Box(m.start(), None))
    return out


def last_boxed(text: Optional[str]) -> Optional[str]:
    """Content of the last complete ``\\boxed{...}`` / ``\\fbox{...}`` in ``text`` (stripped), else None."""
    for box in reversed(boxes(text or "")):
        if box.complete:
            return box.content.strip()
    return None


# ------------------------------------------------------------------------------ answer sentences
_MARKER = re.compile(
    r"(?P<gsm>^[ \t>*]*####[ \t]*(?=[-+$\\\d.(]))"
    r"|\bfinal[ \t]+answer\b(?:[ \t]*\*\*)?[ \t]*(?:(?:is|was)\b[ \t]*:?|[:=：])?"
    r"|\banswers?\b(?:[ \t]*\*\*)?[ \t]*(?:(?:is|are|was)\b[ \t]*:?|[:=：])",
    re.IGNORECASE | re.MULTILINE,
)
_MATH_OPEN = (("$$", "$$"), ("\\[", "\\]"), ("\\(", "\\)"), ("$", "$"))
# a comma, semicolon or dash that starts a clause: ", which ...", "; so ...", " -- since ..."
_CLAUSE = re.compile(r"(?:,|;|\s--?\s|\s—\s)\s*(?=[A-Za-z]{2,}\b)|\s+\((?=[A-Za-z]{3,})")
_HEADING_TAIL = re.compile(r"[ \t*]*(?:\n|\$|\\\[|\\\()")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")
_JOINT = re.compile(r"[ \t]*(?:,[ \t]*(?:and|or)?|and|or)[ \t]*(?=\$|\\\(|\\\[)")
_ENDS = re.compile(r"[ \t]*(?:[.!?;](?:\s|$)|\n|$)")
# a word that starts prose after an answer: "7 because ...", "3/4 of the pie" (not "and", "or", functions)
_PROSE_WORD = re.compile(
    r"\s+(?!(?:and|or|sqrt|pi|sin|cos|tan|log|ln|exp|mod|cm|mm|km|kg)\b)(?:[A-Za-z]{3,}|is|so|as|if|at|by|of|to|we|it)\b"
)


def _find_unescaped(text: str, token: str, start: int) -> int:
    i = text.find(token, start)
    while i > 0 and text[i - 1] == "\\":
        i = text.find(token, i + 1)
    return i


def _math_span(tail: str) -> Optional[tuple[str, int]]:
    """Content of the math span ``$...$`` / ``$$...$$`` / ``\\[...\\]`` / ``\\(...\\)`` opening
    ``tail``, and the index after it."""
    for opener, closer in _MATH_OPEN:
        if tail.startswith(opener):
            end = _find_unescaped(tail, closer, len(opener))
            if end > len(opener):
                return tail[len(opener) : end], end + len(closer)
            return None
    return None


def _math_answer(tail: str) -> Optional[str]:
    """The math span(s) opening ``tail``: ``$2$ and $3$.`` gives ``2, 3`` when the sentence ends
    there (several spans joined by commas, "and", "or"); otherwise the first span only."""
    first = _math_span(tail)
    if first is None:
        return None
    spans, rest = [first[0]], tail[first[1] :]
    while True:
        joint = _JOINT.match(rest)
        nxt = _math_span(rest[joint.end() :]) if joint else None
        if nxt is None:
            break
        spans.append(nxt[0])
        rest = rest[joint.end() + nxt[1] :]
    if len(spans) > 1 and not _ENDS.match(rest):
        return spans[0]
    return ", ".join(s.strip() for s in spans)


def _cut_prose(ans: str) -> str:
    """``7 because 3 + 4 = 7`` -> ``7``: a math-looking answer ends where words start."""
    cut = _top_level_cut(ans, _PROSE_WORD)
    return cut if cut != ans and re.search(r"[\d\\^_=+\-*/]", cut) else ans


def _top_level_cut(text: str, pattern: re.Pattern) -> str:
    """``text`` up to the first match of ``pattern`` outside brackets and ``$...$``."""
    depth, in_math = 0, False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            i += 2
            continue
        if ch == "$":
            in_math = not in_math
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if depth == 0 and not in_math:
            m = pattern.match(text, i)
            if m:
                return text[:i]
        i += 1
    return text


def answer_of_sentence(tail: str) -> Optional[str]:
    """The answer at the start of ``tail`` (the text after "the answer is"): a math span, or the
    words up to the end of the sentence or clause. None if empty."""
    t = tail.lstrip(" \t*:")
    if t.startswith("\n"):  # "**Final Answer**\n\n$5$": the answer is on the next non-empty line
        t = t.lstrip()
    ans = _math_answer(t)
    if ans is None:
        line = t.split("\n", 1)[0]
        ans = _top_level_cut(line, _SENTENCE_END)
        ans = _cut_prose(_top_level_cut(ans, _CLAUSE))
    ans = ans.strip().strip("*").strip()
    ans = re.sub(r"^\$+|\$+$", "", ans).strip()
    ans = ans.rstrip(" .;,:").strip()
    return ans or None


def _last_sentence_answer(text: str) -> Optional[tuple[str, str]]:
    for m in reversed(list(_MARKER.finditer(text))):
        tail = text[m.end() :]
        if m.group(0).lower().rstrip(" *").endswith("answer") and not _HEADING_TAIL.match(tail):
            continue  # "final answer" without "is" / ":" must be a heading ("**Final Answer**\n$5$")
        ans = answer_of_sentence(tail)
        if ans is not None:
            return ans, ("gsm8k" if m.group("gsm") is not None else "answer_sentence")
    return None


# ------------------------------------------------------------------------------ bare answers
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_COMMAND = re.compile(r"\\[A-Za-z]+(\{[^{}]*\})?")


def looks_bare(text: str) -> bool:
    """Whether ``text`` as a whole reads as an answer: one short formula, no prose words."""
    t = text.strip()
    if not t or len(t) > 120 or "\n" in t:
        return False
    words = _COMMAND.sub(" ", t)
    return not re.search(r"[A-Za-z]{2,}", words)


def find_answer(text: Optional[str], *, last_number: bool = False) -> Found:
    """The final answer of ``text`` by the rules in the module docstring.

    ``last_number=True`` adds rule 4 (the graders use it: a terse reply's number is its answer);
    without it a reply that commits to no answer gives None (the design API: "did this agent
    answer?", so that ``extract_answer(verdict) or majority_vote(...)`` falls back).
    """
    if not text or not text.strip():
        return Found(None, "none")
    all_boxes = boxes(text)
    unclosed = [b for b in all_boxes if not b.complete]
    for box in reversed(all_boxes):
        if box.complete:
            return Found(box.content.strip(), "boxed", bool(unclosed))
    # nothing inside an unclosed box is read: cut the text where the first one starts
    readable = text[: unclosed[0].start] if unclosed else text
    got = _last_sentence_answer(readable)
    if got is not None:
        return Found(got[0], got[1], bool(unclosed))
    if unclosed:
        return Found(None, "none", True)
    if looks_bare(text):
        return Found(text.strip(), "bare")
    t = text.strip()
    if last_number and "\n" not in t and len(t) <= MAX_LAST_NUMBER_REPLY:
        nums = _NUMBER.findall(t)
        if nums:
            return Found(nums[-1].rstrip(".,"), "last_number")
    return Found(None, "none")


def extract_answer(text: Optional[str], *, last_number: bool = False) -> Optional[str]:
    """The final answer of ``text`` (see :func:`find_answer`), or None."""
    return find_answer(text if text is None else str(text), last_number=last_number).answer
