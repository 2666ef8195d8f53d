"""Math grading benchmark: agreement with hand labels and throughput, ours vs verl's scorers.

Same run, same labelled set (tests/reward_fns/data/math_cases.jsonl). Baselines from the
installed verl (``verl.utils.reward_score``): ``math_reward`` (Hendrycks MATH string match),
``math_dapo`` (verl's default for ``aime*``/``math``), ``prime_math`` (PRIME's sympy grader),
``math_verify`` (math-verify in a spawn pool). Baselines get a 10 s SIGALRM guard per case
(counted as 0 if hit). Prints one JSON object.

    .venv/bin/python benchmarks/bench_reward_math.py [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "tests" / "reward_fns" / "data" / "math_cases.jsonl"


class _Alarm(Exception):
    pass


def _guarded(fn, *args, seconds=10):
    def handler(signum, frame):
        raise _Alarm()

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        return fn(*args), False
    except _Alarm:
        return False, True
    except Exception:
        return False, False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _as_bool(res) -> bool:
    if isinstance(res, dict):
        return bool(res.get("acc", res.get("score", 0) > 0))
    if isinstance(res, tuple):
        return bool(res[0])
    return bool(res) and float(res) > 0


def _scorers():
    from reward_fns.math.grader import grade_math

    out = {"reward_fns": lambda r, g: grade_math(r, g).correct}
    from verl.utils.reward_score import math_dapo, math_reward, prime_math
    from verl.utils.reward_score import math_verify as verl_math_verify

    out["verl.math_reward"] = lambda r, g: _as_bool(math_reward.compute_score(r, g))
    out["verl.math_dapo"] = lambda r, g: _as_bool(math_dapo.compute_score(r, g))
    out["verl.prime_math"] = lambda r, g: _as_bool(prime_math.compute_score(r, g))
    out["verl.math_verify"] = lambda r, g: _as_bool(verl_math_verify.compute_score(r, g))
    return out


#: keys of the printed JSON (tests/test_benchmarks_quick.py) and of each scorer's entry under ``results``
QUICK_KEYS = ("benchmark", "n_cases", "repeat", "results")
MODE_KEYS = ("agreement", "false_positives", "false_negatives", "cases_per_s_all")
#: --quick: this many cases (a smoke run of every scorer)
QUICK_CASES = 12


def run(repeat: int, quick: bool = False) -> dict:
    cases = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    if quick:
        cases = cases[:QUICK_CASES]
    results = {}
    for name, fn in _scorers().items():
        # warm up (imports, worker start), guarded like the timed calls: a scorer that raises or hangs on a
        # loaded machine must not end the benchmark
        _guarded(fn, cases[0]["response"], cases[0]["gold"], seconds=60)
        agree, timeouts, fp, fn_, per_tag = 0, 0, 0, 0, {}
        wall_fast, n_fast = 0.0, 0
        t0 = time.perf_counter()
        for _ in range(repeat):
            for c in cases:
                s = time.perf_counter()
                got, to = _guarded(fn, c["response"], c["gold"])
                el = time.perf_counter() - s
                if c["tag"] != "pathological":
                    wall_fast += el
                    n_fast += 1
                got = bool(got)
                timeouts += to
                ok = got == c["expected"]
                agree += ok
                fp += got and not c["expected"]
                fn_ += (not got) and c["expected"]
                t = per_tag.setdefault(c["tag"].split("_")[0], [0, 0])
                t[0] += ok
                t[1] += 1
        wall = time.perf_counter() - t0
        n = len(cases) * repeat
        results[name] = {
            "agreement": round(agree / n, 4),
            "agree": agree // repeat,
            "false_positives": fp // repeat,
            "false_negatives": fn_ // repeat,
            "guard_timeouts": timeouts // repeat,
            "cases_per_s_all": round(n / wall, 1),
            "cases_per_s_non_pathological": round(n_fast / wall_fast, 1) if wall_fast else None,
            "per_tag_agreement": {k: f"{v[0] // repeat}/{v[1] // repeat}" for k, v in sorted(per_tag.items())},
        }
    return {"benchmark": "reward_math", "n_cases": len(cases), "repeat": repeat, "results": results}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help=f"the first {QUICK_CASES} cases only (CI smoke)")
    args = ap.parse_args()
    print(json.dumps(run(args.repeat, args.quick), indent=1))
