"""Symbolic equivalence via math-verify + sympy. Runs inside a worker process (see ``_timeout``)."""

from __future__ import annotations

_CFG = None


def _configs():
    global _CFG
    if _CFG is None:
        from math_verify import ExprExtractionConfig, LatexExtractionConfig

        _CFG = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    return _CFG


def _has_float(obj) -> bool:
    import sympy

    try:
        return bool(obj.atoms(sympy.Float))
    except Exception:
        return False


def _exact(obj):
    """``obj`` with every decimal replaced by the exact rational it spells (``0.33`` -> 33/100)."""
    import sympy

    floats = obj.atoms(sympy.Float)
    return obj.xreplace({f: sympy.Rational(str(f)) for f in floats}) if floats else obj


def equal(gold: str, pred: str) -> bool:
    """True iff math-verify finds ``pred`` equivalent to ``gold`` (both LaTeX-ish answer strings).

    math-verify compares decimals after rounding; when either side carries one (a number, a
    matrix entry, a set element, ...) the check is repeated on exact rationals, so ``3.14`` is
    not ``\\pi`` and a matrix entry ``0.33`` is not ``1/3``.
    """
    from math_verify import parse, verify

    g = parse(f"${gold}$", extraction_config=_configs(), parsing_timeout=None)
    p = parse(f"${pred}$", extraction_config=_configs(), parsing_timeout=None)
    if not g or not p:
        return False
    if not verify(g, p, timeout_seconds=None):
        return False
    ge, pe = g[0], p[0]
    if _has_float(ge) or _has_float(pe):
        try:
            return bool(verify([_exact(ge)], [_exact(pe)], timeout_seconds=None))
        except Exception:
            return False
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
