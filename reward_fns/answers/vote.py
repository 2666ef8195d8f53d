"""Majority votes over answers, grouped by the project's one normal form (stdlib only)."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from reward_fns.answers.extract import last_boxed
from reward_fns.answers.normalize import format_rational, normalize, to_rational


def answer_key(answer: Any) -> str:
    """The voting key of an answer: :func:`~reward_fns.answers.normalize.normalize` of its last
    box (or of the whole answer), with plain numbers spelled one way (``0.5``, ``\\dfrac12`` and
    ``1/2`` all give ``\\frac{1}{2}``; ``5.00`` gives ``5``). ``None`` gives ``""``.

    Examples: ``"$\\boxed{1,000}$."`` -> ``"1000"``, ``"\\left( 1, 2 \\right)"`` -> ``"(1,2)"``.
    """
    if answer is None:
        return ""
    text = str(answer)
    boxed = last_boxed(text)
    key = normalize(boxed if boxed is not None else text)
    value = to_rational(key)
    return format_rational(value) if value is not None else key


def code_key(program: Any) -> str:
    """The voting key of a program: its text without any whitespace."""
    return "".join(str(program or "").split())


def majority_vote(answers: Iterable[Any], *, key=answer_key) -> Optional[str]:
    """The most common answer by ``key`` (default :func:`answer_key`); ties go to the group seen
    first; ``None`` and answers with an empty key do not vote; ``None`` if nobody voted.

    Returns the first original answer (as a string) of the winning group.
    """
    items = [(str(a), key(a)) for a in answers if a is not None]
    items = [(a, k) for a, k in items if k]
    if not items:
        return None
    counts: dict[str, int] = {}
    for _, k in items:
        counts[k] = counts.get(k, 0) + 1
    best = max(counts.values())
    for a, k in items:
        if counts[k] == best:
            return a
    return None  # unreachable
