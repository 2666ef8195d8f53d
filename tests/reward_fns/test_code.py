"""Code grader: formats (APPS stdio / call-based, LiveCodeBench Solution methods), compare rules,
extraction, pass rate vs all-pass, early exit, concurrency, verl entry."""

import asyncio
import json

import pytest

import reward_fns
from reward_fns.answers import extract_code
from reward_fns.code import CodeGradeConfig, run_public_tests, run_tests
from reward_fns.code.compare import call_output_match, outputs_match, tokens_match

SUM = json.dumps({"inputs": ["1 2\n", "3 4\n", "10 20\n"], "outputs": ["3\n", "7", "30\n"]})
SUM_CODE = "a, b = map(int, input().split())\nprint(a + b)\n"


# ---- compare rules -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "actual,expected,ok",
    [
        ("3\n", "3", True),
        ("3   \r\n4\r\n\r\n", "3\n4", True),
        ("1 2 3", "1\n2\n3", True),  # token-wise
        ("0.3333333", "0.333333333", True),  # float tokens: 1e-6 tolerance
        ("0.334", "0.333", False),
        ("995", "999", False),  # integers exact
        ("1000000", "1000001", False),
        ("1.0", "1", True),  # one side written as a float
        ("YES", "yes", False),
        ("", "3", False),
        ("3 4", "3", False),
    ],
)
def test_outputs_match(actual, expected, ok):
    assert outputs_match(actual, expected) is ok


def test_outputs_match_expected_list_of_lines():
    assert outputs_match("a\nb\n", ["a", "b"])


def test_tokens_and_values():
    assert tokens_match("1e-9", "0.0")
    assert tokens_match("nan", "nan") and not tokens_match("nan", "0.5")
    assert call_output_match(3, [3])
    assert call_output_match([1, 2], (1, 2))
    assert call_output_match(0.1 + 0.2, 0.3)
    assert not call_output_match(True, 1)
    assert not call_output_match([1, 2], [2, 1])
    assert call_output_match({"a": [1.0]}, {"a": [1]})


# ---- extraction -----------------------------------------------------------------------------
def test_extract_code():
    text = "try:\n```python\nprint(1)\n```\nthen\n```python\nprint(2)\n```\n```text\nout\n```"
    assert extract_code(text) == "print(2)\n"
    assert extract_code("```\nprint(3)\n```") == "print(3)\n"
    assert extract_code("print(4)") is None  # no fence: the grader runs the reply itself
    assert extract_code("here:\n```python\nprint(5)\n") == "print(5)\n"


# ---- formats --------------------------------------------------------------------------------
async def test_apps_stdio_all_pass_and_fail():
    good = await reward_fns.grade_async("code/apps", f"```python\n{SUM_CODE}```", SUM)
    assert good.score == 1.0 and good.correct and good.detail["passed"] == 3
    bad = await reward_fns.grade_async("code/apps", SUM_CODE.replace("+", "-"), SUM)
    assert bad.score == 0.0 and not bad.correct


async def test_apps_call_based_list_of_args():
    gt = json.dumps({"inputs": [[1, 2], [[1, 2, 3], 4]], "outputs": [[3], [[1, 2, 3, 4]]], "fn_name": "f"})
    code = "def f(a, b):\n    return a + b if isinstance(a, int) else a + [b]\n"
    res = await reward_fns.grade_async("apps", code, gt)
    assert res.score == 1.0, res.detail


async def test_livecodebench_solution_method():
    gt = json.dumps({"inputs": ["[2,7,11,15]\n9", "[3,2,4]\n6"], "outputs": ["[0, 1]", "[1, 2]"], "fn_name": "twoSum"})
    code = (
        "from typing import List\n"
        "class Solution:\n"
        "    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
        "        seen = {}\n"
        "        for i, x in enumerate(nums):\n"
        "            if target - x in seen:\n"
        "                return [seen[target - x], i]\n"
        "            seen[x] = i\n"
    )
    res = await reward_fns.grade_async("code/livecodebench_v6", code, gt)
    assert res.score == 1.0, res.detail
    wrong = await reward_fns.grade_async("code/livecodebench_v6",
                                         code.replace("[seen[target - x], i]", "[i, seen[target - x]]"), gt)
    assert wrong.score == 0.0


async def test_codecontests_multiline_and_main_guard():
    gt = json.dumps({"inputs": ["3\n1 2 3\n", "2\n5 5\n"], "outputs": ["6\n", "10\n"]})
    code = (
        "import sys\n"
        "def main():\n"
        "    data = sys.stdin.read().split()\n"
        "    n = int(data[0])\n"
        "    print(sum(map(int, data[1:1 + n])))\n"
        "if __name__ == '__main__':\n"
        "    main()\n"
    )
    assert (await reward_fns.grade_async("code/codecontests", code, gt)).score == 1.0


async def test_exit_builtin_and_float_output():
    gt = json.dumps({"inputs": ["2\n"], "outputs": ["0.6666666667\n"]})
    code = "n = int(input())\nprint('%.9f' % (n / 3))\nexit()\n"
    assert (await reward_fns.grade_async("code/apps", code, gt)).score == 1.0


async def test_pass_rate_vs_all_pass_and_early_exit():
    gt = json.dumps({"inputs": ["1\n", "2\n", "3\n", "4\n"], "outputs": ["1", "2", "3", "5"]})
    code = "print(input())\n"
    all_pass = await reward_fns.grade_async("code/apps", code, gt, None, early_exit=False)
    assert all_pass.score == 0.0 and all_pass.detail["pass_rate"] == 0.75
    default = await reward_fns.grade_async("code/apps", code, gt)  # early exit: pass rate is a lower bound
    assert default.score == 0.0 and default.detail["pass_rate"] <= 0.75
    rate = await reward_fns.grade_async("code/apps", code, gt, None, score="pass_rate", early_exit=False)
    assert rate.score == 0.75 and not rate.correct
    # early exit: a failing first test stops the rest
    gt2 = json.dumps({"inputs": ["9\n", "2\n", "3\n", "4\n"], "outputs": ["1", "2", "3", "4"]})
    out = await run_tests(code, gt2, CodeGradeConfig(parallel=1, early_exit=True))
    assert out["passed"][0] is False and out["passed"][1:] == [None, None, None]
    out = await run_tests(code, gt2, CodeGradeConfig(parallel=1, early_exit=False))
    assert out["passed"] == [False, True, True, True] and out["pass_rate"] == 0.75


async def test_config_via_extra_info_and_errors():
    gt = json.dumps({"inputs": ["1\n", "2\n"], "outputs": ["1", "3"]})
    res = await reward_fns.grade_async("code/apps", "print(input())", gt,
                                       {"code_grading": {"score": "pass_rate", "early_exit": False}})
    assert res.score == 0.5
    with pytest.raises(ValueError):
        await reward_fns.grade_async("code/apps", "print(1)", gt, None, score="bogus")
    bad_gt = await reward_fns.grade_async("code/apps", "print(1)", json.dumps({"inputs": [1]}))
    assert bad_gt.score == 0.0 and "bad ground truth" in bad_gt.detail["reason"]
    empty = await reward_fns.grade_async("code/apps", "```python\n```", gt)
    assert empty.score == 0.0


async def test_run_public_tests_for_designs():
    out = await run_public_tests(f"```python\n{SUM_CODE}```", SUM)
    assert out["all_passed"] and out["pass_rate"] == 1.0


async def test_many_samples_concurrently():
    codes = [SUM_CODE if i % 2 == 0 else SUM_CODE.replace("+", "*") for i in range(12)]
    results = await asyncio.gather(*[reward_fns.grade_async("code/apps", c, SUM) for c in codes])
    assert [r.score for r in results] == [1.0, 0.0] * 6


def test_compute_score_sync_entry_for_verl():
    out = reward_fns.compute_score("code/apps", SUM_CODE, SUM, {"index": 3})
    assert out["score"] == 1.0 and out["acc"] is True and out["pass_rate"] == 1.0


async def test_compute_score_sync_inside_running_loop():
    # verl may call the sync entry from a thread while a loop runs elsewhere; also from a loop thread
    out = reward_fns.compute_score("code/apps", SUM_CODE, SUM)
    assert out["score"] == 1.0


async def test_binary_stdio_and_threads():
    gt = json.dumps({"inputs": ["3\n1 2 3\n"], "outputs": ["6\n"]})
    code = (
        "import sys, threading\n"
        "def main():\n"
        "    data = sys.stdin.buffer.read().split()\n"
        "    sys.stdout.buffer.write(str(sum(map(int, data[1:]))).encode() + b'\\n')\n"
        "sys.setrecursionlimit(1 << 20)\n"
        "threading.stack_size(1 << 26)\n"
        "t = threading.Thread(target=main)\n"
        "t.start(); t.join()\n"
    )
    res = await reward_fns.grade_async("code/codecontests", code, gt)
    assert res.score == 1.0, res.detail
