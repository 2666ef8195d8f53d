"""Benchmarks cannot rot: each one's ``--quick`` run ends cleanly and prints the JSON it promises.

Times are never asserted (the machine is shared and its speed drifts); only that the script runs
against the current code and its output has the keys its readers (docs, tables) use. A benchmark
declares them as ``QUICK_KEYS`` (and, for per-mode entries, ``MODE_KEYS``); add a script here with
the key path to its per-mode mapping, if any.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: benchmark script -> key of a mapping whose every value has ``MODE_KEYS`` (None: no such mapping)
BENCHMARKS = {
    "bench_sandbox.py": "modes",
    "bench_reward_code.py": None,
    "bench_reward_math.py": "results",
    "bench_math_verify_diff.py": "sets",
    "bench_rollout.py": None,
    "bench_trainer_modes.py": "arms",
}
#: quick runs that start Ray and verl's trainer (minutes, not seconds)
SLOW = {"bench_trainer_modes.py", "bench_rollout.py"}


def _declared(script: Path, name: str) -> tuple:
    """A tuple constant of ``script``, read from its source (the script is not imported)."""
    for node in ast.parse(script.read_text()).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"{script.name} declares no {name}")


@pytest.mark.parametrize(
    "script, per_mode",
    [pytest.param(s, m, marks=[pytest.mark.slow] if s in SLOW else []) for s, m in sorted(BENCHMARKS.items())],
)
def test_quick_run_prints_the_promised_json(script, per_mode):
    path = ROOT / "benchmarks" / script
    env = {k: v for k, v in os.environ.items() if not k.startswith("VERL_METAAGENT_SANDBOX")}
    done = subprocess.run([sys.executable, str(path), "--quick"], capture_output=True, text=True, timeout=900,
                          cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert set(_declared(path, "QUICK_KEYS")) <= set(report), sorted(report)
    if per_mode is not None:
        modes = report[per_mode]
        assert modes and all(set(_declared(path, "MODE_KEYS")) <= set(entry) for entry in modes.values()), modes


def test_every_benchmark_is_listed():
    """A new ``benchmarks/bench_*.py`` gets its quick run checked here: none can rot."""
    assert {p.name for p in (ROOT / "benchmarks").glob("bench_*.py")} == set(BENCHMARKS)
