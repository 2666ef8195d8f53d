"""Math grader: labelled agreement set, extraction, exactness, timeouts, verl entry."""

import threading

import pytest

import reward_fns
from labelled_sets import KNOWN_FAILURES, adjudications, load
from reward_fns.answers import extract_answer, find_answer, last_boxed
from reward_fns.math.grader import grade_math, is_equivalent

OURS = load("ours")
MINERVA = "Some work.\nFinal Answer: The final answer is {}. I hope it is correct."
INDEPENDENT = load("independent")


def test_labelled_sets_are_large_and_balanced():
    for cases, size in ((OURS, 200), (INDEPENDENT, 200)):
        assert len(cases) >= size
        positives = sum(c.expected for c in cases)
        assert 80 <= positives <= len(cases) - 60


def _disagreements(cases):
    out = []
    for case in cases:
        got = grade_math(case.response, case.gold, timeout=case.timeout).correct
        if got != case.expected and case.id not in KNOWN_FAILURES:
            out.append((case.id, case.response[-80:], case.gold, case.expected))
    return out


def test_our_labelled_set_agreement():
    assert _disagreements(OURS) == []


def test_independent_labelled_set_agreement():
    """Labels written from rules by a session that never saw the grader (data/independent/README.md)."""
    assert _disagreements(INDEPENDENT) == []


def test_adjudications_name_real_cases_with_their_labels():
    cases = {c.id: c for c in OURS + INDEPENDENT}
    for case_id, row in adjudications().items():
        assert case_id in cases and cases[case_id].label == row["label"] != row["adjudicated"]
        assert len(row["reason"]) > 40
    assert all(case_id in cases for case_id in KNOWN_FAILURES)


@pytest.mark.parametrize("response,gold,expected", [
    ("$\\boxed{\\left[\\begin{matrix}1&2\\\\3&4\\end{matrix}\\right]}$", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
     True),
    ("$\\boxed{\\left(\\begin{array}{cc}1&2\\\\3&4\\end{array}\\right)}$", "\\begin{bmatrix}1&2\\\\3&4\\end{bmatrix}",
     True),
    ("$\\boxed{\\begin{vmatrix}1&2\\\\3&4\\end{vmatrix}}$", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", False),
    ("$\\boxed{x<-2 \\text{ or } x>3}$", "(3,\\infty)\\cup(-\\infty,-2)", True),
    ("$\\boxed{x<-2 \\text{ or } x\\geq 3}$", "(-\\infty,-2)\\cup(3,\\infty)", False),
    ("So the answer is $\\frac{1}{2}$ or $0.5$.", "\\frac12", True),
    ("The answers are $x=2$ and $x=3$.", "3, 2", True),
    ("The answers are $x=2$ and $x=3$.", "2", False),
    ("The final answer is 5. I hope it is correct.", "5", True),
    ("The final answer is 5. I hope it is correct.", "\\text{I hope it is correct}", False),
    ("$\\boxed{\\{3\\}}$", "3", True),
    ("$\\boxed{\\{\\emptyset\\}}$", "\\emptyset", False),
    ("$\\boxed{\\begin{pmatrix} 1 & 2 \\\\[2pt] 3 & 4\\end{pmatrix}}$", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}",
     True),
    ("$\\boxed{[-3, -1) \u222a (2, 5]}$", "(2,5]\\cup[-3,-1)", True),
    ("So $\\boxed{\\O}$", "\\emptyset", True),
    ("So the answer is \u221a3 + 1.", "1+\\sqrt{3}", True),
    (MINERVA.format("$\\pm 3$"), "3,-3", True),
    (MINERVA.format("\\$18.90"), "18.90", True),
    (MINERVA.format("$x = 3$ or $x = -3$"), "3, -3", True),
    (MINERVA.format("$\\frac{1 \\pm \\sqrt{5}}{2}$"), "\\frac{1+\\sqrt5}{2},\\frac{1-\\sqrt5}{2}", True),
    (MINERVA.format("$-\\frac{1}{2}$"), "\\frac12", False),
    ("The answer is 0.667, which is approximately two thirds.", "\\frac23", False),
])
def test_format_classes(response, gold, expected):
    assert grade_math(response, gold).correct is expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("so \\boxed{\\frac{1}{2}} and then \\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"),
        ("\\fbox{7}", "7"),
        ("x \\boxed{a_{1}+\\{b\\}}", "a_{1}+\\{b\\}"),
        ("nothing here", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_extract_order():
    assert find_answer("The answer is 12.\n And 13 apples").answer == "12"
    found = find_answer("we have 3 and then 4", last_number=True)
    assert (found.answer, found.method) == ("4", "last_number")
    assert extract_answer("") is None


@pytest.mark.parametrize("pred,gold",
                         [("995", "999"), ("0.333", "\\frac{1}{3}"), ("3.14", "\\pi"), ("1.41421356", "\\sqrt{2}")])
def test_no_numeric_tolerance(pred, gold):
    assert not is_equivalent(pred, gold)


def test_gold_list_any_of():
    assert grade_math("\\boxed{3}", ["2", "3"]).score == 1.0
    assert grade_math("\\boxed{4}", ["2", "3"]).score == 0.0


def test_pathological_expression_times_out_and_scores_zero():
    res = grade_math("\\boxed{10^{10^{10}}}", "1", timeout=1.0)
    assert res.score == 0.0
    assert res.detail["reason"] == "timeout"
    # the pool recovers: the next symbolic call works
    assert grade_math("\\boxed{\\sqrt{8}}", "2\\sqrt{2}").score == 1.0


def test_timeout_off_main_thread():
    out = {}

    def work():
        out["res"] = grade_math("\\boxed{10^{10^{10}}}", "1", timeout=1.0)
        out["ok"] = grade_math("\\boxed{x^2+2x+1}", "(x+1)^2").score

    t = threading.Thread(target=work)
    t.start()
    t.join(60)
    assert out["res"].detail["reason"] == "timeout"
    assert out["ok"] == 1.0


def test_compute_score_verl_shape():
    out = reward_fns.compute_score("math/aime24", "so \\boxed{033}", "33", {"index": 0})
    assert out["score"] == 1.0 and out["acc"] is True and out["pred"] == "033"
    out = reward_fns.compute_score("aime25", "so \\boxed{32}", "33")
    assert out["score"] == 0.0 and out["acc"] is False


async def test_grade_async_math():
    res = await reward_fns.grade_async("math/polaris", "\\boxed{\\dfrac{3}{4}}", "0.75")
    assert res.correct and res.score == 1.0
    res = await reward_fns.grade_async("math/polaris", None, "0.75")
    assert res.score == 0.0


def test_many_threads_with_timeouts_do_not_deadlock():
    from concurrent.futures import ThreadPoolExecutor

    jobs = [("\\boxed{10^{10^{10}}}", "1", 0.0)] * 3 + [("\\boxed{\\sqrt{8}}", "2\\sqrt{2}", 1.0)] * 5
    with ThreadPoolExecutor(max_workers=8) as pool:
        scores = list(pool.map(lambda j: grade_math(j[0], j[1], timeout=1.0).score, jobs))
    assert scores == [j[2] for j in jobs]


def test_answers_are_never_evaluated_as_python(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [
        f"\\boxed{{__import__('os').system('touch {marker}')}}",
        f"The answer is __import__('os').system('touch {marker}')",
        f"\\boxed{{eval(\"open('{marker}', 'w')\")}}",
    ]
    for p in payloads:
        assert grade_math(p, "0").score == 0.0
    assert not marker.exists()
