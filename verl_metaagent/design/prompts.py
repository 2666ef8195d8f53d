"""Designer prompts.

``build_designer_messages(task, variant)``:

* ``"full"``  -- a system message with the designer's job, the compact API spec
  (:data:`verl_metaagent.design.api.API_SPEC`, the single source of truth), the rules and
  few-shot reference designs chosen by task type (fixed choice, no randomness), then a user
  message with the task;
* ``"short"`` -- only the task in one user message (for models after cold-start SFT); the
  wording is the release's (``Design Multi Agent System for the Question: ...``) so its
  checkpoint can be prompted unchanged.

Math and code tasks have their own guidance (the release had no code-task designer prompt).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from verl_metaagent.design.api import API_SPEC
from verl_metaagent.design.reference import REFERENCE_DESIGNS, load_reference

__all__ = ["FEW_SHOT", "OUTPUT_FORMAT", "build_designer_messages", "designer_system_prompt", "format_public_tests"]

#: Few-shot reference designs per task type (names in ``reference.REFERENCE_DESIGNS``).
FEW_SHOT = {
    "math": ("single_agent", "ensemble_vote", "self_reflection"),
    "code": ("single_agent", "code_generate_test_fix"),
}
#: Longest shown input/output of one public test example.
MAX_TEST_CHARS = 300
#: Number of public test examples shown in the task.
MAX_TEST_EXAMPLES = 2

OUTPUT_FORMAT = (
    "Answer in exactly this format:\n"
    "<think>problem type, analysis, workflow pattern, agent design</think>\n"
    "<code>\n```python\n# your design script\n```\n</code>"
)

_INTRO = (
    "You design a multi-agent system for one task. Write a short Python script that creates "
    "agents (role + system prompt), decides who speaks in what order, what they share and when "
    "to stop, and ends by calling finish(answer). Every agent is played by a language model "
    "that sees only what the script passes to it.\n"
)

_RULES = {
    "math": (
        "Math task rules:\n"
        "- finish() the final answer only (e.g. finish(\"204\")), usually extract_answer(...) of an agent reply.\n"
        "- Tell agents to put their final answer in \\boxed{}.\n"
        "- Use more agents (vote, critique, debate) only when the problem is hard; every ask costs time.\n"
    ),
    "code": (
        "Code task rules:\n"
        "- The answer is a complete Python 3 program reading stdin and writing stdout: finish(code).\n"
        "- Get code from replies with extract_code(reply); "
        "check it with run_tests(code, \"public\") and let an agent fix failures.\n"
        "- Public tests are a sample; the program is graded on hidden tests.\n"
    ),
}
_COMMON_RULES = (
    "- Imports: only verl_metaagent.design.api and math, re, json, itertools, functools, collections, "
    "fractions, statistics, string, typing, dataclasses, random, heapq, bisect, decimal.\n"
    "- No files, no network, no eval/exec/open. Printing does not answer: only finish() does.\n"
)


def _get(task: Any, key: str, default: Any = None) -> Any:
    if isinstance(task, Mapping):
        return task.get(key, default)
    return getattr(task, key, default)


def _clip(text: Any) -> str:
    s = str(text)
    return s if len(s) <= MAX_TEST_CHARS else s[:MAX_TEST_CHARS] + "...[truncated]"


def format_public_tests(tests: Any, limit: int = MAX_TEST_EXAMPLES) -> str:
    """Render up to ``limit`` public tests as text ("" when none).

    Accepts the APPS shape ``{"inputs": [...], "outputs": [...]}`` (or its JSON string) or a
    list of ``{"input": ..., "output": ...}``.
    """
    if tests is None or tests == "":
        return ""
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except ValueError:
            return ""
    pairs: list = []
    if isinstance(tests, Mapping):
        pairs = list(zip(tests.get("inputs") or [], tests.get("outputs") or []))
    elif isinstance(tests, (list, tuple)):
        pairs = [(t.get("input", ""), t.get("output", "")) for t in tests if isinstance(t, Mapping)]
    out = []
    for i, (inp, exp) in enumerate(pairs[:limit], 1):
        out.append(f"Example {i}\nInput:\n{_clip(inp)}\nOutput:\n{_clip(exp)}")
    return "\n\n".join(out)


def _task_text(task: Any, *, short: bool) -> str:
    question = str(_get(task, "question", "") or "")
    task_type = str(_get(task, "task_type", "math") or "math")
    text = (f"Design Multi Agent System for the Question: {question}" if short
            else f"Task type: {task_type.upper()}\n\nQuestion:\n{question}")
    if task_type == "code":
        starter = _get(task, "starter_code")
        fn_name = _fn_name(_get(task, "public_tests"))
        if starter:
            text += "\n\nStarter code (the program must complete it):\n```python\n" + str(starter).rstrip() + "\n```"
        if fn_name:
            text += f"\n\nTests call the function `{fn_name}` (no stdin/stdout); the program must define it."
        tests = format_public_tests(_get(task, "public_tests"))
        if tests:
            text += "\n\nPublic tests (run_tests(code, \"public\") runs all of them):\n" + tests
    return text


def _fn_name(tests: Any) -> str:
    if isinstance(tests, str):
        try:
            tests = json.loads(tests)
        except ValueError:
            return ""
    return str(tests.get("fn_name") or "") if isinstance(tests, Mapping) else ""


def designer_system_prompt(task_type: str = "math") -> str:
    """The full-variant system prompt for ``task_type`` (spec, rules, few-shot designs, output format)."""
    task_type = task_type if task_type in FEW_SHOT else "math"
    shots = []
    for name in FEW_SHOT[task_type]:
        ref = REFERENCE_DESIGNS[name]
        shots.append(f"### {name}: {ref.description}\n```python\n{load_reference(name).rstrip()}\n```")
    return (
        _INTRO
        + "\nAPI (the whole of it):\n```python\n" + API_SPEC.rstrip() + "\n```\n\n"
        + _RULES[task_type] + _COMMON_RULES
        + "\nExample designs:\n\n" + "\n\n".join(shots) + "\n\n"
        + OUTPUT_FORMAT
    )


def build_designer_messages(task: Any, variant: str = "full") -> list[dict]:
    """Chat messages asking the designer for a design for ``task``.

    Args:
        task: mapping or object with ``question``, ``task_type`` ("math" | "code") and,
            optionally, ``public_tests`` (APPS JSON shape; a ``fn_name`` there marks call-based
            tests) and ``starter_code``.
        variant: ``"full"`` (spec + few-shot) or ``"short"`` (task only).
    """
    if variant not in ("full", "short"):
        raise ValueError(f"prompt variant must be 'full' or 'short', got {variant!r}")
    if variant == "short":
        return [{"role": "user", "content": _task_text(task, short=True)}]
    task_type = str(_get(task, "task_type", "math") or "math")
    return [
        {"role": "system", "content": designer_system_prompt(task_type)},
        {"role": "user", "content": _task_text(task, short=False) + "\n\n" + OUTPUT_FORMAT},
    ]
