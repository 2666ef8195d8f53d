"""Generative tests of the math grader (hypothesis + sympy).

Random exact values -- fractions, terminating decimals, radicals, multiples of pi, sets, tuples,
matrices, intervals and unions, +- pairs -- get their gold written by sympy (``sympy.latex``) and
their answer written in one of many equivalent forms (LaTeX and plain, Unicode, units, thousands
separators, any order where order does not matter, every matrix environment), inside one of the
answer formats models and harnesses emit. Every such answer must be accepted. Small perturbations
(off by one, rounded, sign, swapped tuple, open vs closed end, a missing element) must be
rejected; sympy confirms each perturbed value really differs.

Derandomized with a modest number of examples, so the run is the same every time and short.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

hypothesis = pytest.importorskip("hypothesis")
sympy = pytest.importorskip("sympy")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reward_fns.math.grader import grade_math  # noqa: E402

EXAMPLES = settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))

FORMATS = (
    lambda a: f"Reasoning first.\n\nThe final answer is $\\boxed{{{a}}}$.",
    lambda a: f"Hence the result is \\fbox{{{a}}}.",
    lambda a: f"Some work with 17 and 23.\nFinal Answer: The final answer is ${a}$. I hope it is correct.",
    lambda a: f"Putting it together.\n\nThus the answer is ${a}$. We double-check this with 17 and 23.",
    lambda a: f"Let me verify.\n\n**Final Answer**\n\\[\n\\boxed{{{a}}}\n\\]",
    lambda a: f"Combining the two results we obtain\n$$\\text{{The answer is \\boxed{{{a}}}}}$$",
)
formats = st.sampled_from(FORMATS)


def check(gold: str, answer: str, fmt, expected: bool) -> None:
    response = fmt(answer)
    got = grade_math(response, gold, timeout=10.0)
    assert got.correct is expected, (gold, response, got.detail)


def latex(value) -> str:
    return sympy.latex(value)


def rounded(value, places: int) -> tuple[str, object]:
    """``value`` rounded to ``places`` decimals: the answer text and its exact value."""
    answer = f"{float(value):.{places}f}"
    return answer, sympy.Rational(answer)


def check_rejected(gold, wrong, answer: str, fmt) -> None:
    assert sympy.simplify(wrong - gold) != 0, "a perturbation must change the value"
    check(latex(gold), answer, fmt, False)


# ---- numbers ------------------------------------------------------------------------------------
def _terminating(q: int) -> bool:
    for p in (2, 5):
        while q % p == 0:
            q //= p
    return q == 1


def exact_decimal(value: Fraction) -> str:
    """The terminating decimal of ``value`` (its denominator has only the factors 2 and 5)."""
    k = 0
    while (value * 10**k).denominator != 1:
        k += 1
    n = int(value * 10**k)
    sign, digits = ("-" if n < 0 else ""), str(abs(n)).rjust(k + 1, "0")
    return sign + (digits[:-k] + "." + digits[-k:] if k else digits)


def integer_forms(n: int) -> list[str]:
    forms = [str(n), f"{n}.0", f"{n} \\text{{ cm}}", f"x = {n}", f"{n}\\text{{ apples}}"]
    if n < 0:
        forms.append("\u2212" + str(-n))  # Unicode minus
    if abs(n) >= 1000:
        sep = f"{n:,}"
        forms += [sep, sep.replace(",", "{,}"), sep.replace(",", "\\,")]
    if n >= 0:
        forms.append("00" + str(n))  # AIME-style leading zeros
    return forms


def fraction_forms(v: Fraction) -> list[str]:
    p, q = v.numerator, v.denominator
    if q == 1:
        return integer_forms(p)
    sign, a = ("-" if p < 0 else ""), abs(p)
    forms = [f"{sign}\\frac{{{a}}}{{{q}}}", f"{sign}\\dfrac{{{a}}}{{{q}}}", f"\\frac{{{p}}}{{{q}}}", f"{p}/{q}",
             f"{sign}\\frac{{{3 * a}}}{{{3 * q}}}", f"{sign}\\tfrac{{{a}}}{{{q}}}"]
    if _terminating(q):
        forms.append(exact_decimal(v))
    return forms


rationals = st.builds(Fraction, st.integers(-2000, 2000), st.integers(1, 12))


@EXAMPLES
@given(value=rationals, data=st.data(), fmt=formats)
def test_numbers_in_any_exact_form_are_accepted(value, data, fmt):
    answer = data.draw(st.sampled_from(fraction_forms(value)))
    check(latex(sympy.Rational(value.numerator, value.denominator)), answer, fmt, True)


@EXAMPLES
@given(value=rationals, kind=st.sampled_from(["plus_one", "minus_one", "sign", "rounded", "reciprocal"]), fmt=formats)
def test_perturbed_numbers_are_rejected(value, kind, fmt):
    gold = sympy.Rational(value.numerator, value.denominator)
    if kind == "rounded":
        assume(not _terminating(value.denominator))
        answer, wrong = rounded(value, 3)
    elif kind == "sign":
        assume(value != 0)
        wrong, answer = -gold, latex(-gold)
    elif kind == "reciprocal":
        assume(value not in (0, 1, -1))
        wrong = 1 / gold
        answer = latex(wrong)
    else:
        wrong = gold + (1 if kind == "plus_one" else -1) / sympy.Integer(value.denominator)
        answer = latex(wrong)
    check_rejected(gold, wrong, answer, fmt)


@EXAMPLES
@given(n=st.integers(1000, 10**7), fmt=formats)
def test_gsm8k_answers_with_separators(n, fmt):
    sep = f"{n:,}"
    assert grade_math(f"So {n} - 1 + 1 = {n}.\n#### {sep}", str(n)).correct
    assert not grade_math(f"So it is {n + 1}.\n#### {n + 1:,}", str(n)).correct
    check(str(n), sep.replace(",", "{,}"), fmt, True)


# ---- radicals and pi ----------------------------------------------------------------------------
SQUAREFREE = (2, 3, 5, 6, 7, 10, 11, 13)


@EXAMPLES
@given(a=st.integers(1, 9), b=st.sampled_from(SQUAREFREE), data=st.data(), fmt=formats)
def test_radicals_in_any_form_are_accepted(a, b, data, fmt):
    value = a * sympy.sqrt(b)
    forms = [f"{a}\\sqrt{{{b}}}", f"\\sqrt{{{a * a * b}}}", f"{a}\u221a{b}", f"\\sqrt{{{b}}} \\cdot {a}",
             f"\\frac{{{2 * a}\\sqrt{{{b}}}}}{{2}}", f"({a * a * b})^{{1/2}}"]
    if b < 10:  # \sqrt takes one token without braces: \sqrt 10 is \sqrt{1}0
        forms += [f"{a} \\sqrt {b}", f"{a}\\sqrt{b}"]
    if a == 1:
        forms += [f"\u221a{b}", f"\\sqrt{{{b}}}"]
    check(latex(value), data.draw(st.sampled_from(forms)), fmt, True)


@EXAMPLES
@given(a=st.integers(1, 9), b=st.sampled_from(SQUAREFREE), kind=st.sampled_from(["coefficient", "radicand", "decimal"]),
       fmt=formats)
def test_perturbed_radicals_are_rejected(a, b, kind, fmt):
    gold = a * sympy.sqrt(b)
    if kind == "coefficient":
        wrong = (a + 1) * sympy.sqrt(b)
        answer = latex(wrong)
    elif kind == "radicand":
        other = next(c for c in SQUAREFREE if c != b)
        wrong = a * sympy.sqrt(other)
        answer = latex(wrong)
    else:
        answer, wrong = rounded(gold, 4)
    check_rejected(gold, wrong, answer, fmt)


@EXAMPLES
@given(p=st.integers(1, 12), q=st.integers(1, 6), data=st.data(), fmt=formats)
def test_multiples_of_pi_are_accepted(p, q, data, fmt):
    value = sympy.Rational(p, q) * sympy.pi
    r = sympy.Rational(p, q)
    a, b = r.p, r.q
    forms = [f"\\frac{{{a}\\pi}}{{{b}}}", f"\\frac{{{a}}}{{{b}}}\\pi", f"{a}\\pi/{b}", f"{a}\u03c0/{b}",
             f"\\dfrac{{{a} \\pi}}{{{b}}}"]
    if b == 1:
        forms = [f"{a}\\pi", f"{a}\u03c0", f"\\pi \\cdot {a}"] if a != 1 else ["\\pi", "\u03c0"]
    check(latex(value), data.draw(st.sampled_from(forms)), fmt, True)


@EXAMPLES
@given(p=st.integers(1, 12), q=st.integers(1, 6), kind=st.sampled_from(["numerator", "decimal"]), fmt=formats)
def test_perturbed_multiples_of_pi_are_rejected(p, q, kind, fmt):
    gold = sympy.Rational(p, q) * sympy.pi
    if kind == "numerator":
        wrong = sympy.Rational(p + 1, q) * sympy.pi
        answer = latex(wrong)
    else:
        answer, wrong = rounded(gold, 2)
    check_rejected(gold, wrong, answer, fmt)


# ---- sets, tuples, +- ---------------------------------------------------------------------------
elements = st.lists(st.integers(-30, 30), min_size=2, max_size=4, unique=True)


@EXAMPLES
@given(items=elements, data=st.data(), fmt=formats)
def test_sets_in_any_order_are_accepted(items, data, fmt):
    gold = latex(sympy.FiniteSet(*items))
    shuffled = data.draw(st.permutations(items))
    body = ", ".join(str(x) for x in shuffled)
    answer = data.draw(st.sampled_from([f"\\{{{body}\\}}", f"\\left\\{{ {body} \\right\\}}", body]))
    check(gold, answer, fmt, True)


@EXAMPLES
@given(items=elements, kind=st.sampled_from(["missing", "off_by_one"]), data=st.data(), fmt=formats)
def test_perturbed_sets_are_rejected(items, kind, data, fmt):
    gold = latex(sympy.FiniteSet(*items))
    wrong = list(items[1:]) if kind == "missing" else [items[0] + 1] + list(items[1:])
    assume(set(wrong) != set(items))
    check(gold, "\\{" + ", ".join(str(x) for x in data.draw(st.permutations(wrong))) + "\\}", fmt, False)


tuples = st.lists(st.integers(-30, 30), min_size=2, max_size=4)


@EXAMPLES
@given(items=tuples, spaced=st.booleans(), left_right=st.booleans(), fmt=formats)
def test_tuples_in_order_are_accepted_and_swapped_ones_rejected(items, spaced, left_right, fmt):
    gold = "(" + ",".join(str(x) for x in items) + ")"
    body = (", " if spaced else ",").join(str(x) for x in items)
    check(gold, f"\\left( {body} \\right)" if left_right else f"({body})", fmt, True)
    swapped = [items[1], items[0]] + items[2:]
    if swapped != items:
        check(gold, "(" + ", ".join(str(x) for x in swapped) + ")", fmt, False)
    check(gold, "(" + ", ".join(str(x) for x in [items[0] + 1] + items[1:]) + ")", fmt, False)


@EXAMPLES
@given(a=st.integers(-9, 9), b=st.sampled_from(SQUAREFREE), data=st.data(), fmt=formats)
def test_plus_minus_is_the_pair_of_solutions(a, b, data, fmt):
    roots = [a + sympy.sqrt(b), a - sympy.sqrt(b)]
    gold = ", ".join(latex(r) for r in data.draw(st.permutations(roots)))
    check(gold, f"{a} \\pm \\sqrt{{{b}}}", fmt, True)
    check(gold, f"{-a if a else 1} \\pm \\sqrt{{{b}}}", fmt, False)


# ---- matrices -----------------------------------------------------------------------------------
ENVIRONMENTS = ("pmatrix", "bmatrix", "matrix", "Bmatrix", "smallmatrix")
entries = st.builds(Fraction, st.integers(-9, 9), st.sampled_from([1, 1, 2, 4]))


def matrix_latex(rows, env: str, sep: str, entry) -> str:
    return f"\\begin{{{env}}}" + sep.join(" & ".join(entry(x) for x in row) for row in rows) + f"\\end{{{env}}}"


@EXAMPLES
@given(shape=st.sampled_from([(2, 2), (2, 3), (3, 1)]), data=st.data(), env=st.sampled_from(ENVIRONMENTS),
       sep=st.sampled_from([" \\\\ ", "\\\\", " \\\\\n  ", "\\\\ \n"]), fmt=formats)
def test_matrices_in_any_environment_are_accepted(shape, data, env, sep, fmt):
    rows = [[data.draw(entries) for _ in range(shape[1])] for _ in range(shape[0])]
    gold = latex(sympy.Matrix([[sympy.Rational(x.numerator, x.denominator) for x in row] for row in rows]))
    entry = data.draw(st.sampled_from([
        lambda x: exact_decimal(x),
        lambda x: (f"\\frac{{{x.numerator}}}{{{x.denominator}}}" if x.denominator != 1 else str(x.numerator)),
    ]))
    check(gold, matrix_latex(rows, env, sep, entry), fmt, True)
    changed = [row[:] for row in rows]
    changed[-1][-1] += 1
    check(gold, matrix_latex(changed, env, sep, entry), fmt, False)


# ---- intervals and unions -----------------------------------------------------------------------
def interval_latex(lo, hi, left: str, right: str, left_right: bool) -> str:
    lo_s = "-\\infty" if lo is None else str(lo)
    hi_s = "\\infty" if hi is None else str(hi)
    if left_right:
        return f"\\left{left}{lo_s}, {hi_s}\\right{right}"
    return f"{left}{lo_s},{hi_s}{right}"


@EXAMPLES
@given(cuts=st.lists(st.integers(-20, 20), min_size=2, max_size=5, unique=True), data=st.data(), fmt=formats)
def test_unions_in_any_order_are_accepted_and_a_flipped_end_rejected(cuts, data, fmt):
    cuts = sorted(cuts)
    pieces = []  # disjoint intervals (-inf, c0) ..., closedness drawn per finite end
    bounds = [None] + cuts + [None]
    for i in range(0, len(bounds) - 1, 2):
        lo, hi = bounds[i], bounds[i + 1]
        left = "(" if lo is None else data.draw(st.sampled_from("(["))
        right = ")" if hi is None else data.draw(st.sampled_from(")]"))
        pieces.append((lo, hi, left, right))
    sym = sympy.Union(*[sympy.Interval(-sympy.oo if lo is None else lo, sympy.oo if hi is None else hi,
                                       left_open=(left == "("), right_open=(right == ")"))
                        for lo, hi, left, right in pieces])
    gold = " \\cup ".join(interval_latex(*p, False) for p in pieces)
    order = data.draw(st.permutations(pieces))
    left_right = data.draw(st.booleans())
    check(gold, " \\cup ".join(interval_latex(*p, left_right) for p in order), fmt, True)
    finite = [(i, p) for i, p in enumerate(pieces) if p[1] is not None]
    assume(finite)
    i, (lo, hi, left, right) = finite[0]
    flipped = list(pieces)
    flipped[i] = (lo, hi, left, "]" if right == ")" else ")")
    wrong = sympy.Union(*[sympy.Interval(-sympy.oo if a is None else a, sympy.oo if b is None else b,
                                         left_open=(lft == "("), right_open=(rgt == ")"))
                          for a, b, lft, rgt in flipped])
    assert wrong != sym
    check(gold, " \\cup ".join(interval_latex(*p, left_right) for p in flipped), fmt, False)
