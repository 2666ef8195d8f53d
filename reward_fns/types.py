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
        """The dict returned to verl: always the same keys, whatever the grader.

        verl stacks ``reward_extra_info`` across a batch using the first sample's keys, so a
        batch mixing math and code rows needs one schema: ``score`` (float), ``acc`` (bool),
        ``pred`` (str, at most 200 chars), ``reason`` (str), ``pass_rate`` (float; the score for
        graders without tests). Other details stay in :attr:`detail`.
        """
        score = float(self.score)
        pass_rate = self.detail.get("pass_rate", score)
        return {
            "score": score,
            "acc": bool(self.correct),
            "pred": str(self.detail.get("pred", "") or "")[:200],
            "reason": str(self.detail.get("reason", "") or ""),
            "pass_rate": float(pass_rate) if isinstance(pass_rate, (int, float)) else score,
        }


VERL_KEYS = ("score", "acc", "pred", "reason", "pass_rate")
