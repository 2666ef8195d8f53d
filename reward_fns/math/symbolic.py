"""Symbolic equivalence via math-verify + sympy. Runs inside a worker process (see ``_timeout``)."""

from __future__ import annotations

_CFG = None


def _configs():
    global _CFG
    if _CFG is None:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig

        _CFG = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    return _CFG


def _has_float(expr) -> bool:
    import sympy

    try:
        return bool(expr.atoms(sympy.Float))
    except Exception:
        return False


def _exact_equal(a, b) -> bool:
    """Exact check for numeric expressions that contain decimals (no rounding tolerance)."""
    import sympy

    def to_exact(e):
        return e.xreplace({f: sympy.Rational(str(f)) for f in e.atoms(sympy.Float)})

    try:
        diff = sympy.simplify(to_exact(a) - to_exact(b))
        return diff == 0
    except Exception:
        return False


def equal(gold: str, pred: str) -> bool:
    """True iff math-verify finds ``pred`` equivalent to ``gold`` (both LaTeX-ish answer strings).

    math-verify compares floats after rounding; when either side carries a decimal and both are
    plain numbers we re-check exactly (so ``3.14`` is not ``\\pi`` and ``0.333`` is not ``1/3``).
    """
    from math_verify import parse, verify

    g = parse(f"${gold}$", extraction_config=_configs(), parsing_timeout=None)
    p = parse(f"${pred}$", extraction_config=_configs(), parsing_timeout=None)
    if not g or not p:
        return False
    if not verify(g, p, timeout_seconds=None):
        return False
    import sympy

    ge, pe = g[0], p[0]
    if isinstance(ge, sympy.Expr) and isinstance(pe, sympy.Expr) and (_has_float(ge) or _has_float(pe)):
        if not ge.free_symbols and not pe.free_symbols:
            return _exact_equal(ge, pe)
    return True


def sleep_for(seconds: float) -> bool:
    """Test helper: a call that takes ``seconds`` (exercises the hard timeout)."""
    import time

    time.sleep(seconds)
    return True


def warm_up() -> None:
    """Import math-verify and sympy once (done by each worker before it reports ready)."""
    _configs()
    equal("1", "1")
