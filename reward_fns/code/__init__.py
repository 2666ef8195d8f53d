"""Code grader package: ``run_tests`` / ``run_public_tests`` / ``grade_code`` (lazy, light import)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("run_tests", "run_public_tests", "grade_code", "CodeGradeConfig", "parse_tests"):
        from reward_fns.code import grader

        return getattr(grader, name)
    raise AttributeError(name)
