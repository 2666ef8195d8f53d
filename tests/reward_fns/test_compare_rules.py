"""The written compare rules of the graders, case by case: ``reward_fns/math/compare.py`` (shapes, exact
numbers, sets / tuples / intervals / unions / matrices, prose never handed to sympy) and
``reward_fns/code/compare.py`` (stdout lines and tokens, float tolerance, call-based values)."""

import time

import pytest

from reward_fns.answers.normalize import normalize
from reward_fns.code.compare import FLOAT_TOL, call_output_match, outputs_match, tokens_match, values_match
from reward_fns.math import compare
from reward_fns.math.compare import Budget, equivalent, has_prose, scalar_equal, symbolic

PM = "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"
# (gold, prediction, equivalent?)
MATH = [
    ("995", "999", False), ("0.5", "\\frac{1}{2}", True), ("0.333", "\\frac{1}{3}", False),
    ("25\\%", "25", True), ("25", "25\\%", True), ("25\\%", "0.25", False), ("25%", "25%", True),
    ("\\{3\\}", "3", True), ("2", "\\{2\\}", True), ("\\{2, 3\\}", "2", False), ("\\emptyset", "0", False),
    ("\\{1,2\\}", "\\{2,1\\}", True), ("\\{1,2\\}", "\\{1,2,2\\}", True), ("\\{1,2\\}", "\\{1,3\\}", False),
    ("\\{1,2\\}", "\\{1\\}", False), ("\\{1\\}", "\\{1,2\\}", False),
    ("1, 2", "2, 1", True), ("1, 2", "1, 2, 3", False), ("1, 2", "(2, 1)", True), ("1, 2", "[1, 2]", False),
    ("(1, 2)", "(2, 1)", False), ("(1,2)", "(1,2)", True), ("(1, 2)", "1, 2", True), ("(1, 2)", "2, 1", False),
    ("(1, 2)", "(1, 2, 3)", False), ("(1,2)", "\\{1,2\\}", False), ("\\{1,2\\}", "(1,2)", False),
    ("\\{1,2\\}", "[1,2]", False), ("[1,2]", "(1,2)", False), ("(1,2)", "[1,2]", False),
    ("[1,2)", "[1,2)", True), ("[1,2)", "[1,2]", False), ("(-\\infty, 2)", "(-\\infty,2)", True),
    ("[1, 2)", "[1, 3)", False), ("(0.5, 2]", "(\\frac12, 2]", True),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)\\cup(-\\infty,2)", True),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(3,\\infty)", False),
    ("(-\\infty, 2) \\cup (3, \\infty)", "(-\\infty, 2) \\cup (4, \\infty)", False),
    ("x < -2 \\text{ or } x > 3", "(-\\infty,-2)\\cup(3,\\infty)", True),
    ("(-\\infty,-2)\\cup(3,\\infty)", "x < -2 \\text{ or } x > 3", True),
    (PM, PM.replace("pmatrix", "bmatrix"), True), (PM, PM.replace("4", "5"), False),
    (PM, "\\begin{pmatrix}1&2&3\\\\3&4&5\\end{pmatrix}", False), (PM, "\\begin{pmatrix}1&2\\end{pmatrix}", False),
    ("\\begin{pmatrix}1&2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", False),
    ("\\begin{pmatrix}0.5&2\\end{pmatrix}", "\\begin{pmatrix}\\frac12&2\\end{pmatrix}", True),
    (PM.replace("pmatrix", "vmatrix"), PM, False), (PM, PM.replace("pmatrix", "vmatrix"), False),
    (PM.replace("pmatrix", "vmatrix"), PM.replace("pmatrix", "vmatrix"), True),
    ("3 \\pm 1", "2, 4", True), ("3 \\pm 1", "4, 2", True), ("3 \\pm 1", "2", False),
    ("Yes", "yes", True), ("Yes", "no", False), ("north east", "north-east", False),
    ("x^2+2x+1", "(x+1)^2", True), ("\\sqrt{2}", "2^{1/2}", True), ("x+1", "x+2", False),
    ("\\mathbb{R}\\setminus\\{0\\}", "(-\\infty,0)\\cup(0,\\infty)", True),
    ("(-\\infty,0)\\cup(0,\\infty)", "\\mathbb{R}\\setminus\\{0\\}", True),
    ("2", "2, 2", True), ("1, \\infty", "(1, \\infty)", False), ("(1, 2, 3)", "[1, 2, 3]", False),
    ("(0.5, 1, 2)", "(\\frac12, 1, 2)", True), ("yes", "YES", True),
    ("(-\\infty,2)\\cup(3,\\infty)", "(-\\infty,2)\\cup(3,4)\\cup(5,\\infty)", False),
    # items that only sympy can match, inside every shape (each shape hands the call's budget down)
    ("(\\sqrt{2}, 1)", "(2^{1/2}, 1)", True), ("[\\sqrt2, 3)", "[2^{1/2}, 3)", True),
    ("(\\sqrt2, 1)", "2^{1/2}, 1", True), ("\\sqrt2, 1", "(1, 2^{1/2})", True),
    ("\\begin{pmatrix}\\sqrt2&1\\end{pmatrix}", "\\begin{pmatrix}2^{1/2}&1\\end{pmatrix}", True),
    # an exact number against an equal expression that is no plain number: still handed to sympy
    ("2", "\\sqrt{4}", True), ("\\frac12", "\\sin(\\pi/6)", True),
    # letters only on one side is no word answer: the product xy written with \cdot is still xy
    ("xy", "x \\cdot y", True), ("x \\cdot y", "xy", True),
    # a one-element set against a number goes by the shape rules (percent a unit, {a} = a), not to
    # math-verify, which cannot read \{25\%\} as a set and calls the pair different
    ("\\{25\\%\\}", "25", True), ("25", "\\{25\\%\\}", True), ("\\{25\\%\\}", "26", False),
]


@pytest.mark.parametrize("gold, pred, expected", MATH)
def test_math_rules(gold, pred, expected):
    assert equivalent(normalize(gold), normalize(pred), Budget(30.0)) is expected


def test_prose_is_a_string_only():
    assert has_prose("the answer") and has_prose("\\text{apple}") and has_prose("Math")
    assert not has_prose("\\sin x") and not has_prose("sqrt{x} + cosh") and not has_prose("abc")
    assert not has_prose("\\begin{pmatrix}1\\end{pmatrix}") and not has_prose("\\frac12")
    assert not symbolic("two apples", "2", Budget(30.0)) and not symbolic("2", "two apples", Budget(30.0))
    assert not symbolic("4", "\\text{area} = 4", Budget(30.0))  # sympy would read "area = 4" as 4


def test_symbolic_limits():
    assert symbolic("x^2+2x+1", "(x+1)^2", Budget(30.0))
    fits = "20" + "+0" * 999  # exactly MAX_SYMBOLIC_CHARS (2000) characters: handed to sympy
    long = "2" + fits  # one more: never handed to sympy
    assert len(fits) == compare.MAX_SYMBOLIC_CHARS == len(long) - 1
    assert symbolic(fits, "20", Budget(30.0)) and symbolic("20", fits, Budget(30.0))
    assert not symbolic(long, "220", Budget(30.0)) and not symbolic("220", long, Budget(30.0))
    spent = Budget(0.0)
    time.sleep(0.01)
    assert not symbolic("x^2+2x+1", "(x+1)^2", spent) and spent.timed_out
    fresh = Budget(30.0)
    assert fresh.remaining() > 29 and fresh.timed_out is False


def test_a_symbolic_check_cut_off_is_false_and_marks_the_budget():
    """10^(10^10) cannot be compared within a second: the worker is cut off, the call is False and the
    budget says it ran out (the grader then reports a timeout)."""
    budget = Budget(1.0)
    assert not symbolic("10^{10^{10}}", "1", budget) and budget.timed_out is True
    assert symbolic("\\sqrt{8}", "2\\sqrt{2}", Budget(30.0))  # the pool recovers


class _FakePool:
    """Stands in for the worker pool: records each call, returns ``result`` or raises ``error``."""

    def __init__(self, result=True, error=None):
        self.result, self.error, self.calls = result, error, []

    def call(self, target, args, timeout):
        self.calls.append((target, tuple(args), timeout))
        if self.error is not None:
            raise self.error
        return self.result


class _Left(Budget):
    """A budget with a fixed time left (no clock involved)."""

    def __init__(self, left):
        super().__init__(left)
        self.left = left

    def remaining(self):
        return self.left


def test_symbolic_uses_whatever_time_is_left(monkeypatch):
    """Under a second left is still time: the check runs with that deadline (only none left skips it)."""
    from reward_fns.math import _timeout

    pool = _FakePool(result=True)
    monkeypatch.setattr(_timeout, "get_pool", lambda: pool)
    budget = _Left(0.5)
    assert symbolic("x^2+2x+1", "(x+1)^2", budget) is True and budget.timed_out is False
    assert pool.calls == [("reward_fns.math.symbolic:equal", ("x^2+2x+1", "(x+1)^2"), 0.5)]
    spent = _Left(-0.5)
    assert symbolic("x^2+2x+1", "(x+1)^2", spent) is False and spent.timed_out is True and len(pool.calls) == 1


def test_a_failed_math_worker_is_no_match_and_no_timeout(monkeypatch):
    """A worker that crashes or raises (the pool's RuntimeError) means "not shown equal", not a timeout."""
    from reward_fns.math import _timeout

    pool = _FakePool(error=RuntimeError("math worker failed: EOFError"))
    monkeypatch.setattr(_timeout, "get_pool", lambda: pool)
    budget = Budget(30.0)
    assert symbolic("x^2+2x+1", "(x+1)^2", budget) is False and budget.timed_out is False
    assert equivalent(normalize("x^2+2x+1"), normalize("(x+1)^2"), budget) is False and len(pool.calls) == 2


def test_scalar_rules_directly():
    b = Budget(30.0)
    assert scalar_equal("7", "7", b) and scalar_equal("7\\%", "7", b) and scalar_equal("7", "7%", b)
    assert not scalar_equal("7", "8", b) and not scalar_equal("0.7", "7\\%", b)
    assert scalar_equal("Apple Pie", "apple pie", b) and not scalar_equal("apple", "pear", b)


# ------------------------------------------------------------------------------------------------ code


@pytest.mark.parametrize("a, b, ok", [
    ("3", "3", True), ("995", "999", False), ("1.0", "1", True), ("1", "1.0", True), ("1e3", "1000", True),
    ("1E3", "1000", True), ("inf", "inf", True),
    ("nan", "nan", True), ("nan", "NaN", False), ("NaN", "0.5", False), ("0.5", "nan", False),
    ("1000.0", "1000.0005", True), ("1000.0", "1000.002", False), ("0.0000001", "0.0", True),
    ("0.000002", "0.0", False), ("1.x", "1.0", False), ("abc", "abd", False), ("E", "3", False),
    ("12", "12.0000001", True), ("-0.5", "-0.5000001", True), ("1.0000001", "-1.0", False),
    ("1000000", "1000001", False),  # integers are exact even where the float tolerance would cover them
])
def test_tokens(a, b, ok):
    assert tokens_match(a, b) is ok


def test_token_tolerance_is_relative_to_the_expected_value_and_configurable():
    assert FLOAT_TOL == 1e-6
    assert tokens_match("2000000.0", "2000001.0")  # 1 <= 1e-6 * 2e6
    assert not tokens_match("1.0", "2000001.0") and not tokens_match("2000003.0", "2000000.0")
    assert tokens_match("1.05", "1.0", tol=0.1) and not tokens_match("1.05", "1.0", tol=0.01)
    assert outputs_match("1.05", "1.0", tol=0.1) and not outputs_match("1.05", "1.0")
    assert call_output_match(1.05, 1.0, tol=0.1) and call_output_match(1.05, [1.0], tol=0.1)
    assert values_match([1.05], [1.0], tol=0.1) and values_match({"a": 1.05}, {"a": 1.0}, tol=0.1)
    assert tokens_match("0.5", "0.0", tol=0.5) and values_match(0.5, 0.0, tol=0.5)  # the bound is inclusive
    assert values_match(2000001.0, 2000000.0) and not values_match(1.5e-6, 0.0)  # relative above 1, absolute below


@pytest.mark.parametrize("actual, expected, ok", [
    ("3\n", "3", True), ("3   \r\n4\r\n\r\n", "3\n4", True), ("3\r4", "3\n4", True), ("3\n\n\n", "3", True),
    ("\n3", "3", True), ("1 2 3", "1\n2\n3", True), ("3 4", "3", False), ("", "3", False), ("", "", True),
    ("a\nb\n", ["a", "b"], True), ("a\nb", ("a", "b"), True), ("1\n2", [1, 2], True), ("a", ["a", "b"], False),
    (None, "3", False), (None, "", False), ("YES", "yes", False), ("0.3333333", "0.333333333", True),
])
def test_outputs(actual, expected, ok):
    assert outputs_match(actual, expected) is ok


@pytest.mark.parametrize("actual, expected, ok", [
    (True, True, True), (True, 1, False), (1, True, False), (False, 0, False), (3, 3, True), (3, 4, False),
    (3, 3.0000001, True), (3.0000001, 3, True), (float("nan"), float("nan"), False), (0.5, float("nan"), False),
    (10**20, 10**20 + 1, False), ([1, 2], (1, 2), True), ([1, 2], [1, 2, 3], False), ([1, 2], [2, 1], False),
    ({"a": [1.0]}, {"a": [1]}, True), ({"a": 1}, {"b": 1}, False), ({"a": 1}, {"a": 1, "b": 2}, False),
    ("x", "x", True), ("x", "y", False), (None, None, True), ([1], 1, False), ({"a": 1}, [1], False),
    (True, False, False), (False, True, False), ({"a": 1}, ["a"], False), (["a"], {"a": 1}, False),
])
def test_values(actual, expected, ok):
    assert values_match(actual, expected) is ok


def test_call_outputs_unwrap_only_a_one_element_list():
    assert call_output_match(3, [3]) and call_output_match([3], [3]) and call_output_match([1, 2], [[1, 2]])
    assert not call_output_match(3, [3, 3]) and not call_output_match(3, (3,)) and not call_output_match(3, [4])
    assert not call_output_match(True, [1])
