"""reward_fns.answers: the one extractor of the project (answers, programs, normal form, votes)."""

import pytest

from reward_fns.answers import (
    answer_key,
    boxes,
    extract_answer,
    extract_code,
    find_answer,
    last_boxed,
    majority_vote,
    normalize,
    to_rational,
    unicode_to_latex,
)

MINERVA = "Final Answer: The final answer is {}. I hope it is correct."


# ---- answer sentences: the answer only, never the prose after it ------------------------------
@pytest.mark.parametrize("answer,expected", [
    ("$42$", "42"),
    ("$\\frac{3\\pi}{2}$", "\\frac{3\\pi}{2}"),
    ("$25\\%$", "25\\%"),
    ("$1,234,567$", "1,234,567"),
    ("$\\left(-\\infty, \\frac{5}{2}\\right]$", "\\left(-\\infty, \\frac{5}{2}\\right]"),
    ("$2 \\pm \\sqrt{5}$", "2 \\pm \\sqrt{5}"),
    ("$(2, -3)$", "(2, -3)"),
    ("$\\$12.50$", "\\$12.50"),
    ("17", "17"),
    ("3.5", "3.5"),
])
def test_minerva_sentence_gives_the_answer_only(answer, expected):
    text = "Some reasoning with 99 and $7$.\n" + MINERVA.format(answer)
    found = find_answer(text)
    assert (found.answer, found.method) == (expected, "answer_sentence")


@pytest.mark.parametrize("text,expected", [
    ("So the answer is 9. This is consistent with 36 having 9 divisors.", "9"),
    ("The answer is 0.67, which is close to two-thirds.", "0.67"),
    ("The answer is 1,000,000. That is a million.", "1,000,000"),
    ("Thus the answer is $x = 4$. Substituting any other value breaks it.", "x = 4"),
    ("The answer is (C). The others fail.", "(C)"),
    ("The answer is 12 cm. Since the perimeter was in cm, so is the side.", "12 cm"),
    ("The answer is 42 (forty-two).", "42"),
    ("**Final Answer:** The answer is 7.\n\nTo present it formally:", "7"),
    ("**Final Answer**\n\n$\\dfrac{1}{6}$", "\\dfrac{1}{6}"),
    ("The answers are 3 and 4.", "3 and 4"),
    ("Answer: 256", "256"),
    ("A first guess: the answer is 8. But 6 pairs with itself.\nSo the answer is 9.", "9"),
    ("The answer is 7 because 3 + 4 = 7.", "7"),
    ("The answer is 3/4 of the pie.", "3/4"),
    ("The answer is 12 inches long.", "12"),
    ("The answer is no solution.", "no solution"),
    ("The answers are $x=2$ and $x=3$.", "x=2, x=3"),
    ("The answer is $5$, and $10$ is wrong.", "5"),
    ("So the answer is \\(\\frac{1}{2}\\). Done.", "\\frac{1}{2}"),
    ("The answer is **42**.", "42"),
])
def test_answer_sentences(text, expected):
    assert extract_answer(text) == expected


def test_gsm8k_hash_answer_and_markdown_headings():
    assert find_answer("48/2 = <<48/2=24>>24 clips.\n#### 72").answer == "72"
    assert find_answer("so 40*30 = 1200.\n#### 1,200").method == "gsm8k"
    # a markdown heading is no GSM8K answer
    assert find_answer("#### Step 3: add\nWe get 5 in total and more words here to be long enough ok.").answer is None


# ---- boxes ------------------------------------------------------------------------------------
def test_last_complete_box_wins_and_unclosed_box_is_no_answer():
    assert extract_answer("I get $\\boxed{10}$. Wait, actually it is $\\boxed{12") == "10"
    assert find_answer("Therefore the number of chickens is \\boxed{12").answer is None
    assert find_answer("so\n$$\\boxed{\\frac{3}{").unclosed_box
    # nothing inside the unclosed box is read, not even an answer sentence
    assert extract_answer("Hence \\boxed{\\text{the answer is 5") is None
    # an answer sentence before the truncated box still counts
    assert extract_answer("**Final Answer:** The answer is 7.\n\n$$\\boxed{7") == "7"
    # no last-number fallback into a truncated reply
    assert extract_answer("x = 12 so \\boxed{12", last_number=True) is None


@pytest.mark.parametrize("text,expected", [
    ("$$\\text{The answer is \\boxed{12}}$$", "12"),
    ("$\\text{So we get }\\boxed{100}\\text{ as the total.}$", "100"),
    ("the area is \\fbox{36}.", "36"),
    ("The altitude is \\fbox{$\\frac{60}{13}$}.", "$\\frac{60}{13}$"),
    ("$\\boxed{\\left\\{ -2, \\frac{1}{3} \\right\\}}$", "\\left\\{ -2, \\frac{1}{3} \\right\\}"),
    ("so the answer is \\boxed 7.", "7"),
    ("first \\boxed{24}? Wait... $$\\boxed{12}$$", "12"),
])
def test_box_forms(text, expected):
    assert last_boxed(text) == expected
    assert find_answer(text).method == "boxed"


def test_boxes_lists_complete_and_unclosed():
    got = boxes("\\boxed{1} then \\fbox{2} then \\boxed{3")
    assert [(b.content, b.complete) for b in got] == [("1", True), ("2", True), (None, False)]
    assert boxes("\\boxedx{1}") == []  # another command, no box


# ---- bare answers and the short-reply fallback -----------------------------------------------
def test_bare_and_short_replies_and_long_prose_without_answer():
    assert find_answer("204").method == "bare"
    assert find_answer("$x = 5$").answer == "$x = 5$"
    assert find_answer("There are 5 red and 7 blue balls, so 12 in total", last_number=True).answer == "12"
    assert find_answer("I agree with debater 1") == find_answer("I agree.")  # no answer unless asked
    assert find_answer("unsure").answer is None and find_answer("no idea here").answer is None  # words: no answer
    assert find_answer("It is 5.", last_number=True).answer == "5"
    long_prose = "For n = 10 that would be 1023, but I should verify the recurrence first. " * 3
    assert find_answer(long_prose, last_number=True).answer is None
    assert find_answer("").answer is None and find_answer(None).method == "none"


# ---- programs ---------------------------------------------------------------------------------
def test_extract_code():
    text = "try:\n```python\nprint(1)\n```\nthen\n```py\nprint(2)\n```\n```text\nout\n```"
    assert extract_code(text) == "print(2)\n"
    assert extract_code("```\n\nx = 1\n\n```") == "x = 1\n"
    assert extract_code("```cpp\nint main(){}\n```") == "int main(){}\n"
    assert extract_code("here:\n```python\nprint(5)\n") == "print(5)\n"  # truncated reply
    assert extract_code("no code") is None and extract_code(None) is None


# ---- normal form ------------------------------------------------------------------------------
@pytest.mark.parametrize("raw,norm", [
    ("2√3", "2\\sqrt{3}"),
    ("√(16 − 4)", "\\sqrt{16-4}"),
    ("√2/2", "\\sqrt{2}/2"),
    ("½", "\\frac{1}{2}"),
    ("3π/4", "3\\pi/4"),
    ("1.5 × 10^{3}", "1.5\\times10^{3}"),
    ("60°", "60"),
    ("x²", "x^{2}"),
    ("∅", "\\emptyset"),
    ("\\varnothing", "\\emptyset"),
    ("\\{ \\}", "\\emptyset"),
    ("\\begin{pmatrix} 1 & 2 \\\\ \n 3 & 4 \\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    ("3\\,628\\,800", "3628800"),
    ("2{,}097{,}152", "2097152"),
    ("12 \\text{ cm}^2", "12"),
    ("\\text{5 hours}", "5"),
    ("7 apples", "7"),
    ("2x", "2x"),
    ("45^{\\circ}", "45"),
    ("(a, b) = (3, 4)", "(3,4)"),
    ("a+b = 12", "12"),
    ("y = 2x + 1", "2x+1"),
    ("x \\in (0, 1]", "(0,1]"),
    ("2 \\le x \\le 5", "[2,5]"),
    ("50\\%", "50%"),
    ("(1, infinity)", "(1,\\infty)"),
    ("\\begin{bmatrix} 1 \\\\[2pt] 2 \\end{bmatrix}", "\\begin{bmatrix}1\\\\2\\end{bmatrix}"),
])
def test_normalize(raw, norm):
    assert normalize(raw) == norm


def test_unicode_to_latex_leaves_ascii_alone():
    text = "\\frac{1}{2} + x"
    assert unicode_to_latex(text) is text


@pytest.mark.parametrize("text,value", [
    ("007", 7), ("0.75", 0.75), ("6.02e23", 6.02e23), ("3.2\\times10^{4}", 32000), ("2.5\\times10^{-3}", 0.0025),
    ("2^{10}", 1024), ("-\\frac{2}{3}", -2 / 3), ("\\frac{-2}{3}", -2 / 3), ("2\\frac{1}{2}", 2.5), ("1/3", 1 / 3),
])
def test_to_rational(text, value):
    assert float(to_rational(text)) == pytest.approx(value, rel=1e-12)


def test_to_rational_is_exact_and_refuses_the_rest():
    from fractions import Fraction

    assert to_rational("0.\\overline{3}") == Fraction(1, 3)
    assert to_rational("0.333") != Fraction(1, 3)
    assert to_rational("50%") is None  # a percent is a unit, read by the grader
    assert to_rational("10^{10000}") is None  # too large to spell out
    assert to_rational("\\frac{1}{0}") is None and to_rational("x") is None


# ---- votes ------------------------------------------------------------------------------------
def test_answer_key_and_majority_vote():
    assert answer_key("$\\boxed{1,000}$.") == "1000"
    assert answer_key("0.5") == answer_key("\\dfrac12") == answer_key("1/2") == "\\frac{1}{2}"
    assert answer_key(" 5.00 ") == "5" and answer_key(None) == ""
    assert majority_vote(["0.5", "3", "\\frac{1}{2}"]) == "0.5"
    assert majority_vote(["6", "5", "5", "6"]) == "6"  # tie -> the group seen first
    assert majority_vote([None, "", " "]) is None
    assert majority_vote(["a = 1", "print(1)", "print( 1 )"], key=lambda p: "".join(p.split())) == "print(1)"


def test_one_extractor_everywhere():
    """The design API, the workflow dialect and the rollout tree use these very functions."""
    from verl_metaagent.design import api
    from verl_metaagent.rollout.tree import majority_answer

    text = MINERVA.format("$\\frac{3}{4}$")
    assert api.extract_answer(text) == extract_answer(text) == "\\frac{3}{4}"
    assert api.extract_answer("broken \\boxed{12") is None
    assert api.extract_code("```python\nx = 1\n```") == extract_code("```python\nx = 1\n```")
    assert api.normalize_answer("\\dfrac{1}{2}") == answer_key("0.5")
    assert api.majority_vote(["0.5", "3", "\\frac12"]) == "0.5"
    assert majority_answer(["0.5", "3", "\\frac12", None]) == "0.5"
    assert majority_answer(["print(1)", "print( 1 )", "x"], task_type="code") == "print(1)"
