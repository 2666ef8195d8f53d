"""Result type shared by every grader."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class GradeResult:
    """Outcome of grading one answer.

    Attributes:
        score: the reward (float; 0.0 .. 1.0 for the built-in graders).
        correct: whether the answer counts as fully correct (accuracy metric).
        detail: grader-specific information (e.g. ``pred``, ``pass_rate``, ``reason``).
    """

    score: float
    correct: bool
    detail: dict[str, Any] = field(default_factory=dict)

    def to_verl(self) -> dict[str, Any]:
        """The dict verl's reward managers expect: ``score`` plus scalar details (``acc``, ``pred`` ...)."""
        out: dict[str, Any] = {"score": float(self.score), "acc": bool(self.correct)}
        for key, value in self.detail.items():
            if key in out:
                continue
            if isinstance(value, (int, float, str, bool)) or value is None:
                out[key] = value if value is not None else ""
        return out
