"""Code grader: run a program against tests in the sandbox; pass rate or all-pass reward.

Registered for the prefix ``code/`` (``code/apps``, ``code/codecontests``,
``code/livecodebench_v6``) and the aliases ``apps``, ``codecontests``, ``livecodebench``,
``livecodebench_v6``, ``code_contests``, ``codeforces``, ``taco`` (verl's own code data sources
included: they run in our sandbox, not in verl's unsandboxed ``prime_code``).

Ground truth: JSON string (or dict) ``{"inputs": [...], "outputs": [...], "fn_name": optional}``.
Without ``fn_name`` every test feeds ``inputs[i]`` on stdin and compares stdout with
``outputs[i]``; with ``fn_name`` the function (or the method of ``class Solution``) is called
with ``inputs[i]`` (a list of args, or LiveCodeBench's newline-separated JSON values) and the
return value is compared with ``outputs[i]``. See :mod:`reward_fns.code.compare` for the
tolerance rules.

All tests of one sample run in ONE sandbox call: a harness forks one child per test (parallel,
per-test timeout and memory limit, early exit at the first failure by default). Samples are
graded concurrently up to ``REWARD_FNS_CODE_CONCURRENCY`` (default 2 x cpus) sandboxes at once.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Optional

from reward_fns.answers import extract_code
from reward_fns.registry import register
from reward_fns.types import GradeResult


@dataclass(frozen=True)
class CodeGradeConfig:
    """How a code sample is graded.

    Attributes:
        score: ``"all_pass"`` (1.0 iff every test passes) or ``"pass_rate"`` (fraction passed).
        timeout: seconds per test (wall, enforced by the harness; CPU rlimit = timeout + 1).
        memory_mb: address-space limit per test process.
        parallel: tests of one sample run at once.
        early_exit: stop at the first failing test (pass_rate then counts the rest as failed).
        max_tests: grade at most this many tests (the first ones; deterministic), 0 = all.
        max_output_bytes: per-test stdout cap; more counts as a failure.
        float_tol: relative/absolute tolerance for float-looking tokens.
        extract: pull the code out of a fenced block of the answer.
    """

    score: str = "all_pass"
    timeout: float = 6.0
    memory_mb: int = 512
    parallel: int = 2
    early_exit: bool = True
    max_tests: int = 0
    max_output_bytes: int = 1 << 20
    float_tol: float = 1e-6
    extract: bool = True


DEFAULT_CONFIG = CodeGradeConfig()
_HARNESS_SRC: Optional[str] = None
_SEMS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = weakref.WeakKeyDictionary()
_SEM_LOCK = threading.Lock()


def max_concurrency() -> int:
    """Sandboxes running at once across samples (``REWARD_FNS_CODE_CONCURRENCY``, default 2 x cpus)."""
    return max(1, int(os.environ.get("REWARD_FNS_CODE_CONCURRENCY", 2 * (os.cpu_count() or 1))))


def _harness_source() -> str:
    global _HARNESS_SRC
    if _HARNESS_SRC is None:
        here = Path(__file__).parent
        _HARNESS_SRC = (
            (here / "compare.py").read_text() + "\n\n" + (here / "_harness.py").read_text() + "\n\nmain()\n"
        )
    return _HARNESS_SRC


def _semaphore() -> asyncio.Semaphore:
    """One semaphore per event loop bounding concurrent sandboxes across samples."""
    loop = asyncio.get_running_loop()
    with _SEM_LOCK:
        sem = _SEMS.get(loop)
        if sem is None:
            sem = _SEMS[loop] = asyncio.Semaphore(max_concurrency())
        return sem


def parse_tests(ground_truth: Any) -> dict:
    """``{"inputs", "outputs", "fn_name"}`` from a JSON string or dict; ValueError if malformed."""
    tests = json.loads(ground_truth) if isinstance(ground_truth, (str, bytes)) else ground_truth
    if not isinstance(tests, dict) or "inputs" not in tests or "outputs" not in tests:
        raise ValueError("code ground_truth must be {'inputs': [...], 'outputs': [...], 'fn_name'?: str}")
    if len(tests["inputs"]) != len(tests["outputs"]):
        raise ValueError("code ground_truth: inputs and outputs differ in length")
    return tests


async def run_tests(code: str, tests: Any, config: CodeGradeConfig = DEFAULT_CONFIG) -> dict:
    """Run ``code`` against ``tests``; returns ``{"passed": [bool|None], "statuses": [...],
    "pass_rate", "all_passed", "sandbox_status"}`` (None = not run after an early exit)."""
    from reward_fns.code._executor import SandboxLimits, run_python

    tests = parse_tests(tests)
    inputs, outputs = list(tests["inputs"]), list(tests["outputs"])
    if config.max_tests and len(inputs) > config.max_tests:
        inputs, outputs = inputs[: config.max_tests], outputs[: config.max_tests]
    n = len(inputs)
    if n == 0:
        return {"passed": [], "statuses": [], "pass_rate": 0.0, "all_passed": False, "sandbox_status": "no_tests"}
    fn_name = tests.get("fn_name") or None
    job = {
        "code": code, "mode": "call" if fn_name else "stdio", "fn_name": fn_name, "inputs": inputs,
        "timeout": config.timeout, "memory_mb": config.memory_mb, "max_output": config.max_output_bytes,
        "parallel": config.parallel, "early_exit": config.early_exit, "tol": config.float_tol,
    }
    part1 = json.dumps(job)
    stdin = "%010d" % len(part1.encode()) + part1 + json.dumps(outputs)
    waves = -(-n // max(1, config.parallel))
    limits = SandboxLimits(
        wall_seconds=waves * (config.timeout + 0.5) + 5.0,
        cpu_seconds=n * (config.timeout + 1) + 5.0,
        memory_mb=config.memory_mb * (config.parallel + 1) + 256,
        max_processes=8 * config.parallel + 8,
        max_output_bytes=1 << 20,
        allow_network=False,
    )
    async with _semaphore():
        res = await run_python(_harness_source(), stdin=stdin, limits=limits)
    report = None
    for line in reversed(res.stdout.splitlines()):
        if line.startswith("@@RESULT@@"):
            try:
                report = json.loads(line[len("@@RESULT@@"):])
            except ValueError:
                report = None
            break
    if report is None:
        return {"passed": [False] * n, "statuses": ["harness_" + res.status] * n, "pass_rate": 0.0,
                "all_passed": False, "sandbox_status": res.status, "stderr": res.stderr[-2000:]}
    passed = [bool(p) if s is not None else None for p, s in zip(report["passed"], report["statuses"])]
    n_pass = sum(1 for p in passed if p)
    return {"passed": passed, "statuses": report["statuses"], "pass_rate": n_pass / n,
            "all_passed": n_pass == n, "sandbox_status": res.status}


async def run_public_tests(code: str, tests: Any, config: Optional[CodeGradeConfig] = None) -> dict:
    """For designs' ``run_tests`` tool: run ``code`` on (public) tests without early exit."""
    if tests is None:
        return {"passed": [], "statuses": [], "pass_rate": 0.0, "all_passed": False, "sandbox_status": "no_tests"}
    cfg = config or replace(DEFAULT_CONFIG, early_exit=False)
    return await run_tests(extract_code(code) or code, tests, cfg)


def _config_from(kwargs: dict, extra_info: dict) -> CodeGradeConfig:
    fields = CodeGradeConfig.__dataclass_fields__
    over = {k: v for k, v in (extra_info.get("code_grading") or {}).items() if k in fields}
    over.update({k: v for k, v in kwargs.items() if k in fields})
    cfg = replace(DEFAULT_CONFIG, **over)
    if cfg.score not in ("all_pass", "pass_rate"):
        raise ValueError(f"code grading score must be 'all_pass' or 'pass_rate', got {cfg.score!r}")
    return cfg


@register("code/",
          aliases=("apps", "codecontests", "code_contests", "codeforces", "livecodebench", "livecodebench_v6", "taco"))
async def grade_code(answer: str, ground_truth: Any, extra_info: Optional[dict] = None, **kwargs: Any) -> GradeResult:
    """Grade a code answer; keyword args / ``extra_info["code_grading"]`` override :class:`CodeGradeConfig`.

    Returns GradeResult(score = all-pass (default) or pass rate, correct = all tests passed,
    detail = {"pass_rate", "passed", "total", "statuses", "sandbox_status"}).
    """
    cfg = _config_from(kwargs, extra_info or {})
    code = (extract_code(answer) or answer or "") if cfg.extract else (answer or "")
    if not code.strip():
        return GradeResult(0.0, False, {"pass_rate": 0.0, "reason": "no code"})
    try:
        out = await run_tests(code, ground_truth, cfg)
    except ValueError as exc:
        return GradeResult(0.0, False, {"pass_rate": 0.0, "reason": f"bad ground truth: {exc}"})
    score = out["pass_rate"] if cfg.score == "pass_rate" else (1.0 if out["all_passed"] else 0.0)
    failing = [s for s in out["statuses"] if s not in ("ok", None)]
    reason = "all_passed" if out["all_passed"] else (failing[0] if failing else "not_run")
    return GradeResult(score, out["all_passed"], {
        "reason": reason,
        "pass_rate": out["pass_rate"], "passed": sum(1 for p in out["passed"] if p), "total": len(out["passed"]),
        "statuses": ",".join(str(s) for s in out["statuses"]), "sandbox_status": out["sandbox_status"],
    })
