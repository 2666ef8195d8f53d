"""Means and 95% confidence intervals over seeds, and differences between arms (pure).

Two differences: Welch's (the arms' seeds treated as independent samples) and the paired one (per-seed
differences, for designs where every arm of a seed starts from the same warm start and problems, so
the seed is a block: its effect cancels in the difference).
"""

from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence

# two-sided 97.5% quantiles of Student's t by degrees of freedom (1..30); larger df -> normal
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t975(df: float) -> float:
    """Student's t 0.975 quantile for ``df`` degrees of freedom (fractional df rounded down, >= 1)."""
    d = max(1, int(math.floor(df)))
    return _T975[d - 1] if d <= len(_T975) else 1.96


def mean_ci(values: Sequence[float]) -> dict:
    """``{"n", "mean", "sd", "lo", "hi"}``: the mean and its 95% t-interval (``lo = hi = mean`` for one value)."""
    vals = [float(v) for v in values if v is not None]
    n = len(vals)
    if n == 0:
        return {"n": 0, "mean": None, "sd": None, "lo": None, "hi": None}
    m = sum(vals) / n
    if n == 1:
        return {"n": 1, "mean": m, "sd": None, "lo": m, "hi": m}
    sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (n - 1))
    half = t975(n - 1) * sd / math.sqrt(n)
    return {"n": n, "mean": m, "sd": sd, "lo": m - half, "hi": m + half}


def welch_difference(a: Sequence[float], b: Sequence[float]) -> Optional[dict]:
    """``mean(a) - mean(b)`` with its 95% Welch interval; None if either side has < 2 values.

    ``separated`` is True when the interval excludes 0.
    """
    a = [float(v) for v in a if v is not None]
    b = [float(v) for v in b if v is not None]
    if len(a) < 2 or len(b) < 2:
        return None
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((v - ma) ** 2 for v in a) / (len(a) - 1) / len(a)
    vb = sum((v - mb) ** 2 for v in b) / (len(b) - 1) / len(b)
    se = math.sqrt(va + vb)
    diff = ma - mb
    if se == 0.0:
        return {"diff": diff, "lo": diff, "hi": diff, "df": None, "separated": diff != 0.0}
    df = (va + vb) ** 2 / ((va**2 / (len(a) - 1) if va else 0.0) + (vb**2 / (len(b) - 1) if vb else 0.0))
    half = t975(df) * se
    lo, hi = diff - half, diff + half
    return {"diff": diff, "lo": lo, "hi": hi, "df": df, "separated": not (lo <= 0.0 <= hi)}


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> Optional[dict]:
    """``mean(a[s] - b[s])`` over the seeds ``s`` both have, with its 95% t-interval; None under 2 seeds.

    ``a`` and ``b`` map seed -> value (None values are left out). ``separated`` is True when the interval
    excludes 0; ``seeds`` lists the seeds used.
    """
    seeds = sorted(s for s in a if s in b and a[s] is not None and b[s] is not None)
    if len(seeds) < 2:
        return None
    ci = mean_ci([float(a[s]) - float(b[s]) for s in seeds])
    lo, hi = ci["lo"], ci["hi"]
    return {"diff": ci["mean"], "lo": lo, "hi": hi, "seeds": seeds, "separated": not (lo <= 0.0 <= hi)}
