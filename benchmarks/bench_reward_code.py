"""Code grading benchmark: samples/s on APPS-style samples, ours vs a naive runner.

Workload: ``--samples`` (default 200) APPS-style stdin/stdout samples x ``--tests`` (default 10)
tests, from 5 small problems; ~80 % of the samples are correct, the rest fail on one random test.

* ours: ``reward_fns`` code grader — one sandbox call per sample, a fork per test inside it
  (2 tests in parallel, early exit).
* naive: one fresh sandbox (``run_python``) per test, tests in order, early exit, output compared
  in the grader. Same sandbox, same limits, same isolation per program, same concurrency across
  samples (``REWARD_FNS_CODE_CONCURRENCY``), same compare function.

Both must agree on every sample's score (checked). Prints one JSON object (keys: ``QUICK_KEYS``).

    .venv/bin/python benchmarks/bench_reward_code.py [--samples 200 --tests 10]
    .venv/bin/python benchmarks/bench_reward_code.py --quick     # 6 samples x 3 tests: a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBLEMS = {
    "sum": ("n = int(input())\nprint(sum(map(int, input().split())))\n",
            lambda r: (lambda xs: (f"{len(xs)}\n{' '.join(map(str, xs))}\n", f"{sum(xs)}\n"))(
                [r.randint(-99, 99) for _ in range(r.randint(1, 30))])),
    "sort": ("input()\nprint(*sorted(map(int, input().split())))\n",
             lambda r: (lambda xs: (f"{len(xs)}\n{' '.join(map(str, xs))}\n", " ".join(map(str, sorted(xs))) + "\n"))(
                 [r.randint(0, 999) for _ in range(r.randint(1, 30))])),
    "rev": ("s = input().strip()\nprint(s[::-1])\n",
            lambda r: (lambda s: (s + "\n", s[::-1] + "\n"))(
                "".join(r.choice("abcxyz") for _ in range(r.randint(1, 40))))),
    "fib": ("n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)\n",
            lambda r: (lambda n: (f"{n}\n", f"{_fib(n)}\n"))(r.randint(0, 80))),
    "avg": ("xs = list(map(float, input().split()))\nprint('%.6f' % (sum(xs) / len(xs)))\n",
            lambda r: (lambda xs: (" ".join(map(str, xs)) + "\n", "%.6f\n" % (sum(xs) / len(xs))))(
                [r.randint(1, 100) for _ in range(r.randint(1, 10))])),
}


def _fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def make_samples(n_samples: int, n_tests: int, seed: int = 0):
    r = random.Random(seed)
    names = sorted(PROBLEMS)
    samples = []
    for i in range(n_samples):
        name = names[i % len(names)]
        code, gen = PROBLEMS[name]
        tests = [gen(r) for _ in range(n_tests)]
        inputs, outputs = [t[0] for t in tests], [t[1] for t in tests]
        if r.random() < 0.2:
            bad = r.randrange(n_tests)
            outputs[bad] = "WRONG\n"
        samples.append((f"```python\n{code}```", json.dumps({"inputs": inputs, "outputs": outputs})))
    return samples


async def naive_grade(answer: str, gt: str, cfg) -> float:
    """One fresh sandbox per test; sequential; early exit. Same limits as ours per program."""
    from reward_fns.answers import extract_code
    from reward_fns.code._executor import SandboxLimits, run_python
    from reward_fns.code.compare import outputs_match
    from reward_fns.code.grader import _semaphore

    code = extract_code(answer)
    tests = json.loads(gt)
    limits = SandboxLimits(wall_seconds=cfg.timeout, cpu_seconds=cfg.timeout + 1, memory_mb=cfg.memory_mb,
                           max_processes=16, max_output_bytes=cfg.max_output_bytes, allow_network=False)
    async with _semaphore():
        for inp, out in zip(tests["inputs"], tests["outputs"]):
            res = await run_python(code, stdin=inp, limits=limits)
            if res.status != "ok" or not outputs_match(res.stdout, out):
                return 0.0
    return 1.0


async def run(n_samples: int, n_tests: int) -> dict:
    import reward_fns
    from reward_fns.code._executor import active_protections
    from reward_fns.code.grader import DEFAULT_CONFIG

    samples = make_samples(n_samples, n_tests)
    # warm up both paths
    await reward_fns.grade_async("code/apps", samples[0][0], samples[0][1])
    await naive_grade(samples[0][0], samples[0][1], DEFAULT_CONFIG)

    t0 = time.perf_counter()
    ours = await asyncio.gather(*[reward_fns.grade_async("code/apps", a, g) for a, g in samples])
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = await asyncio.gather(*[naive_grade(a, g, DEFAULT_CONFIG) for a, g in samples])
    t_naive = time.perf_counter() - t0
    ours_scores = [r.score for r in ours]
    return {
        "benchmark": "reward_code",
        "samples": n_samples,
        "tests_per_sample": n_tests,
        "concurrency": int(os.environ.get("REWARD_FNS_CODE_CONCURRENCY", 2 * (os.cpu_count() or 1))),
        "cpus": os.cpu_count(),
        "sandbox": "verl_metaagent.sandbox",
        "protections": active_protections(),
        "ours": {"seconds": round(t_ours, 2), "samples_per_s": round(n_samples / t_ours, 2),
                 "mean_score": round(sum(ours_scores) / n_samples, 3)},
        "naive_subprocess_per_test": {"seconds": round(t_naive, 2), "samples_per_s": round(n_samples / t_naive, 2),
                                      "mean_score": round(sum(naive) / n_samples, 3)},
        "speedup": round(t_naive / t_ours, 2),
        "scores_agree": ours_scores == naive,
    }


#: The keys of the printed JSON object (tests/test_benchmarks_quick.py checks them).
QUICK_KEYS = ("benchmark", "samples", "tests_per_sample", "concurrency", "cpus", "sandbox", "protections", "ours",
              "naive_subprocess_per_test", "speedup", "scores_agree")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--tests", type=int, default=10)
    ap.add_argument("--quick", action="store_true",
                    help="6 samples x 3 tests: checks the benchmark runs (a few seconds)")
    args = ap.parse_args()
    if args.quick:
        args.samples, args.tests = 6, 3
    print(json.dumps(asyncio.run(run(args.samples, args.tests)), indent=1))
