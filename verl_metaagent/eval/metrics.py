"""Accuracy and cost from evaluation records: pure functions, no I/O.

Definitions (an *attempt* is one record: one system, one problem, one sample):

* avg@k of a system on a benchmark = mean over problems of the problem's mean correctness over
  its k attempts (with k = 1 and greedy decoding this is pass@1). Reported in percent.
* pass@k (unbiased, Chen et al. 2021) = mean over problems of ``1 - C(n-c, k) / C(n, k)`` with
  n attempts of which c correct.
* cost per problem = mean over attempts of LLM calls / tokens (prompt + completion).
* cost per solved problem = total calls / tokens over all attempts divided by the number of
  correct attempts (``None`` when nothing was solved).
* a system's average accuracy = unweighted mean of its per-benchmark accuracies (the paper's
  "Avg." column); its overall cost pools every attempt of every benchmark.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from math import comb
from typing import Iterable, Mapping, Optional, Sequence

__all__ = ["Cell", "SystemSummary", "avg_at_k", "pass_at_k", "group_attempts", "summarize_cells", "summarize_systems"]


def avg_at_k(per_problem: Mapping[str, Sequence[float]]) -> float:
    """Mean over problems of the mean correctness (0/1 or a fraction) of each problem's attempts.

    >>> avg_at_k({"p1": [1, 0], "p2": [1, 1]})
    0.75
    """
    scores = [sum(v) / len(v) for v in per_problem.values() if len(v)]
    return sum(scores) / len(scores) if scores else 0.0


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``n`` attempts, ``c`` correct (``k <= n``).

    >>> pass_at_k(4, 1, 2)
    0.5
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


@dataclass
class Cell:
    """One (system, benchmark) cell of the table.

    Attributes:
        problems: distinct problems; ``attempts``: records; ``samples``: attempts per problem
            (the smallest, so an unfinished run is visible as a smaller k).
        accuracy: avg@k as a fraction; ``pass_at_k``: unbiased pass@k with k = ``samples``.
        solved: correct attempts. ``calls`` / ``tokens`` / ``prompt_tokens`` / ``completion_tokens``:
            means per attempt. ``calls_per_solved`` / ``tokens_per_solved``: totals / solved (or None).
        sc_k: CoT self-consistency votes used (``None`` for other systems).
    """

    system: str
    benchmark: str
    problems: int
    attempts: int
    samples: int
    accuracy: float
    pass_at_k: float
    solved: int
    calls: float
    tokens: float
    prompt_tokens: float
    completion_tokens: float
    calls_per_solved: Optional[float]
    tokens_per_solved: Optional[float]
    sc_k: Optional[int] = None


@dataclass
class SystemSummary:
    """A table row's summary over benchmarks: ``accuracy`` = mean of the cells' accuracies,
    ``benchmarks`` = the benchmarks it covers; costs pool all its attempts."""

    system: str
    benchmarks: list = field(default_factory=list)
    accuracy: float = 0.0
    attempts: int = 0
    solved: int = 0
    calls: float = 0.0
    tokens: float = 0.0
    calls_per_solved: Optional[float] = None
    tokens_per_solved: Optional[float] = None


def group_attempts(records: Iterable[dict]) -> dict[tuple, list[dict]]:
    """Records grouped by ``(system, benchmark)``."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in records:
        groups[(r["system"], r["benchmark"])].append(r)
    return dict(groups)


def _correct(r: dict) -> float:
    return 1.0 if r.get("correct") else 0.0


def _cell(system: str, benchmark: str, recs: Sequence[dict]) -> Cell:
    per_problem: dict[str, list[float]] = defaultdict(list)
    for r in recs:
        per_problem[str(r["problem_id"])].append(_correct(r))
    samples = min(len(v) for v in per_problem.values())
    n = len(recs)
    solved = int(sum(_correct(r) for r in recs))
    total_calls = sum(int(r.get("llm_calls", 0)) for r in recs)
    total_tokens = sum(int(r.get("tokens", 0)) for r in recs)
    pk = [pass_at_k(len(v), int(sum(v)), samples) for v in per_problem.values()]
    ks = sorted({r.get("sc_k") for r in recs if r.get("sc_k")})
    return Cell(
        system=system,
        benchmark=benchmark,
        problems=len(per_problem),
        attempts=n,
        samples=samples,
        accuracy=avg_at_k(per_problem),
        pass_at_k=sum(pk) / len(pk),
        solved=solved,
        calls=total_calls / n,
        tokens=total_tokens / n,
        prompt_tokens=sum(int(r.get("prompt_tokens", 0)) for r in recs) / n,
        completion_tokens=sum(int(r.get("completion_tokens", 0)) for r in recs) / n,
        calls_per_solved=total_calls / solved if solved else None,
        tokens_per_solved=total_tokens / solved if solved else None,
        sc_k=ks[0] if len(ks) == 1 else None,
    )


def summarize_cells(records: Iterable[dict]) -> dict[tuple, Cell]:
    """``{(system, benchmark): Cell}`` for every pair that has records."""
    return {key: _cell(key[0], key[1], recs) for key, recs in group_attempts(records).items()}


def summarize_systems(records: Iterable[dict]) -> dict[str, SystemSummary]:
    """``{system: SystemSummary}``: mean accuracy over its benchmarks, pooled cost."""
    records = list(records)
    cells = summarize_cells(records)
    out: dict[str, SystemSummary] = {}
    for system in sorted({r["system"] for r in records}):
        mine = [c for (s, _), c in cells.items() if s == system]
        recs = [r for r in records if r["system"] == system]
        solved = int(sum(_correct(r) for r in recs))
        calls = sum(int(r.get("llm_calls", 0)) for r in recs)
        tokens = sum(int(r.get("tokens", 0)) for r in recs)
        out[system] = SystemSummary(
            system=system,
            benchmarks=sorted(c.benchmark for c in mine),
            accuracy=sum(c.accuracy for c in mine) / len(mine),
            attempts=len(recs),
            solved=solved,
            calls=calls / len(recs),
            tokens=tokens / len(recs),
            calls_per_solved=calls / solved if solved else None,
            tokens_per_solved=tokens / solved if solved else None,
        )
    return out
