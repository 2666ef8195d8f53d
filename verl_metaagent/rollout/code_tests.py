"""``run_tests`` / ``run_code`` for code designs: the parent's answer in the reply shape the design API reads.

A design's :func:`verl_metaagent.design.api.run_tests` expects ``{"passed": int, "total": int,
"results": [{"passed", "input", "expected", "output", "stdout", "error"}]}``; ``run_code`` sends
one test ``{"input": stdin, "output": None}`` and reads its ``stdout`` back. Tests run through
reward_fns' code runner (in the sandbox), whose grading shape (``"passed"`` as a list of
booleans) :func:`to_api_report` converts. Used by training rollouts, distillation, evaluation and
``metaagent solve`` alike (``verl_metaagent.rollout.grading.code_test_runner_factory``).
"""

from __future__ import annotations

import json
from typing import Any, Optional

__all__ = ["api_test_runner_factory", "to_api_report"]

MAX_FIELD = 2000


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_FIELD:
        return value[:MAX_FIELD] + "..."
    return value


def _spec(tests: Any) -> Optional[dict]:
    if tests is None or tests == "":
        return None
    if isinstance(tests, (str, bytes)):
        try:
            tests = json.loads(tests)
        except (ValueError, TypeError):
            return None
    return tests if isinstance(tests, dict) and "inputs" in tests and "outputs" in tests else None


def to_api_report(out: Any, spec: Optional[dict]) -> dict:
    """reward_fns' ``{"passed": [bool|None], "statuses": [...]}`` -> the API's ``{passed, total, results}``."""
    if not isinstance(out, dict):
        return {"passed": 0, "total": 0, "results": [], "error": "the test runner returned nothing"}
    if isinstance(out.get("passed"), int) and "total" in out:  # already the API's shape
        return out
    flags = list(out.get("passed") or [])
    statuses = list(out.get("statuses") or [None] * len(flags))
    inputs = list((spec or {}).get("inputs") or [])
    outputs = list((spec or {}).get("outputs") or [])
    results = []
    for i, flag in enumerate(flags):
        status = statuses[i] if i < len(statuses) else None
        results.append({
            "passed": bool(flag),
            "input": _clip(inputs[i] if i < len(inputs) else None),
            "expected": _clip(outputs[i] if i < len(outputs) else None),
            "error": "" if flag or status in ("ok", None) else str(status),
        })
    return {"passed": sum(1 for f in flags if f), "total": len(flags), "results": results}


def api_test_runner_factory():
    """``problem -> async run_tests(code, tests)`` answering in the design API's shape (see module docstring).

    ``tests`` is ``"public"`` (the problem's public tests), a ``{"inputs", "outputs"}`` spec, or a
    list of ``{"input", "output"}``; tests with ``"output": None`` (``run_code``) run the program
    once in the sandbox and report its ``stdout``, ``error`` (last stderr line), ``stderr``,
    ``exit_code`` and sandbox ``status``. Returns ``None`` when reward_fns' code runner is unavailable.
    """
    try:
        from reward_fns.code import run_public_tests
    except ImportError:
        return None

    def factory(problem):
        extra = problem.extra_info if isinstance(problem.extra_info, dict) else {}
        public = _spec(extra.get("public_tests"))
        fn_name = (public or {}).get("fn_name")

        async def run_tests(code: str, tests: Any) -> dict:
            if tests in (None, "public"):
                if public is None:
                    return {"passed": 0, "total": 0, "results": [], "error": "this task has no public tests"}
                return to_api_report(await run_public_tests(code, public), public)
            if isinstance(tests, list):
                cases = [t for t in tests if isinstance(t, dict)]
                if cases and all(t.get("output") is None for t in cases):
                    return await _run_only(code, [str(t.get("input", "")) for t in cases])
                spec = {"inputs": [t.get("input", "") for t in cases], "outputs": [t.get("output", "") for t in cases]}
                if fn_name:
                    spec["fn_name"] = fn_name
            else:
                spec = _spec(tests)
                if spec is None:
                    return {"passed": 0, "total": 0, "results": [],
                            "error": "tests must be 'public', a list of {input, output} or {inputs, outputs}"}
            return to_api_report(await run_public_tests(code, spec), spec)

        return run_tests

    return factory


async def _run_only(code: str, stdins: list[str]) -> dict:
    """Run ``code`` once per stdin in the sandbox; results carry ``stdout`` and ``error`` (``run_code``)."""
    from reward_fns.answers import extract_code
    from verl_metaagent.sandbox import SandboxLimits, run_python

    program = extract_code(code) or code
    results = []
    for stdin in stdins:
        res = await run_python(program, stdin=stdin,
                               limits=SandboxLimits(wall_seconds=10.0, cpu_seconds=10.0, memory_mb=512))
        error = ("" if res.status == "ok" and res.exit_code == 0
                 else (res.stderr.strip().splitlines() or [res.detail.get("reason") or res.status])[-1])
        results.append({"passed": not error, "input": _clip(stdin), "expected": None, "output": _clip(res.stdout),
                        "stdout": _clip(res.stdout), "error": _clip(error), "stderr": _clip(res.stderr),
                        "exit_code": res.exit_code, "status": res.status})
    return {"passed": sum(1 for r in results if r["passed"]), "total": len(results), "results": results}
