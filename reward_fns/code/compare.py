"""Output comparison for code tests (stdlib only: this file's text is also sent into the sandbox).

Rules (documented in CONTRIBUTING.md):

* stdin/stdout tests: line endings (``\\r\\n``) and trailing whitespace per line / trailing blank
  lines are ignored; if the texts still differ, outputs are compared token by token (split on
  whitespace). Two tokens match if they are equal strings, or if **both parse as floats and at
  least one of them is written as a float** (contains ``.``, ``e`` or ``E``, or is inf/nan) and
  ``|a - b| <= FLOAT_TOL * max(1, |b|)`` — integer-looking tokens must match exactly
  (``995`` never equals ``999``).
* call-based tests: returned values compare structurally (lists == tuples, dict by key);
  float values use the same tolerance; an expected ``[v]`` also accepts a returned ``v``
  (APPS wraps call-based outputs in a list).
"""

FLOAT_TOL = 1e-6


def _floatish(tok):
    low = tok.lower()
    return ("." in tok) or ("e" in low and not low.isalpha()) or low in ("inf", "-inf", "nan")


def tokens_match(a, b, tol=FLOAT_TOL):
    """Whether two output tokens match (exact, or float-close when one is written as a float)."""
    if a == b:
        return True
    if not (_floatish(a) or _floatish(b)):
        return False
    try:
        fa, fb = float(a), float(b)
    except ValueError:
        return False
    if fa != fa or fb != fb:
        return False
    return abs(fa - fb) <= tol * max(1.0, abs(fb))


def _lines(text):
    lines = [ln.rstrip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def outputs_match(actual, expected, tol=FLOAT_TOL):
    """Whether a program's stdout matches the expected stdout (see module docstring)."""
    if isinstance(expected, (list, tuple)):
        expected = "\n".join(str(x) for x in expected)
    if actual is None:
        return False
    if _lines(actual) == _lines(expected):
        return True
    at, et = actual.split(), expected.split()
    if len(at) != len(et):
        return False
    return all(tokens_match(x, y, tol) for x, y in zip(at, et))


def values_match(actual, expected, tol=FLOAT_TOL):
    """Structural equality of returned values with float tolerance (bools are not numbers)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected or actual == expected and type(actual) is type(expected)
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        if isinstance(actual, int) and isinstance(expected, int):
            return actual == expected
        if actual != actual or expected != expected:
            return False
        return abs(actual - expected) <= tol * max(1.0, abs(expected))
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(actual) == len(expected) and all(values_match(x, y, tol) for x, y in zip(actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return set(actual) == set(expected) and all(values_match(actual[k], expected[k], tol) for k in actual)
    return actual == expected


def call_output_match(actual, expected, tol=FLOAT_TOL):
    """Call-based compare: ``values_match``, or APPS' ``[v]`` wrapper around the expected value."""
    if values_match(actual, expected, tol):
        return True
    if isinstance(expected, list) and len(expected) == 1 and values_match(actual, expected[0], tol):
        return True
    return False
