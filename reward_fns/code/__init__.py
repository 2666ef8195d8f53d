"""Code grader package: ``run_tests`` / ``run_public_tests`` / ``grade_code`` (lazy, light import)."""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name in ("run_tests", "run_public_tests", "grade_code", "CodeGradeConfig", "parse_tests"):
        from reward_fns.code import grader

        return getattr(grader, name)
    if name == "extract_code":
        from reward_fns.code.extract import extract_code

        return extract_code
    raise AttributeError(name)
