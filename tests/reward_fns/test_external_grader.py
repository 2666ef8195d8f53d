"""A grader from outside the repository, installed as a package, seen by every user of reward_fns.

A tiny package (``reward-fns-parity-demo``, module ``parity_grader``, one entry point in the group
``reward_fns.graders``) is built from a temp dir and pip-installed into a temp target (a real
install: a ``.dist-info`` with ``entry_points.txt``). Processes that have the target on their
path then grade ``parity/...`` rows with it, without any change to this repository:

* training: verl's own ``custom_reward_function`` loader (``pkg://reward_fns``, ``compute_score``)
  and the MetaAgent-X rollout's grader (:func:`verl_metaagent.rollout.grading.make_grader`);
* ``metaagent eval`` (and, without the package, its refusal before any LLM call, naming the
  missing data source and the ways to add a grader; and ``--reward-module FILE`` instead);
* distillation (``python -m verl_metaagent.distill run``): executions graded 1.0 are kept.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from verl_metaagent.testing.openai_server import FakeOpenAIServer

GRADER_MODULE = '''\
"""Parity answers: the final answer must be the word "odd" or "even", as in the ground truth."""

import reward_fns
from reward_fns.answers import extract_answer


@reward_fns.register("parity/", aliases=("parity",))
def grade_parity(answer, ground_truth, extra_info=None, **kwargs):
    said = (extract_answer(answer) or answer).strip().lower()
    ok = said == str(ground_truth).strip().lower()
    return reward_fns.GradeResult(1.0 if ok else 0.0, ok, {"pred": said})
'''

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "reward-fns-parity-demo"
version = "0.1.0"

[project.entry-points."reward_fns.graders"]
parity = "parity_grader"

[tool.setuptools]
py-modules = ["parity_grader"]
'''

DESIGN = """<think>one solver is enough for a parity question</think><code>
```python
from verl_metaagent.design.api import *
solver = Agent("Solver", "Answer with odd or even in \\\\boxed{}.")
finish(extract_answer(solver.ask()) or "")
```
</code>"""


def responder(body: dict) -> str:
    first = body["messages"][0]["content"]
    if first.startswith("You design a multi-agent system") or first.startswith("Design Multi Agent System"):
        return DESIGN
    question = body["messages"][-1]["content"]
    return "The number is odd, so the answer is \\boxed{odd}." if "7" in question else "\\boxed{even}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build and pip-install the package into a temp target; returns paths."""
    root = tmp_path_factory.mktemp("parity")
    src, site = root / "src", root / "site"
    src.mkdir()
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "parity_grader.py").write_text(GRADER_MODULE)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    dist = [p for p in os.listdir(site) if p.endswith(".dist-info")]
    assert len(dist) == 1 and "reward_fns.graders" in (site / dist[0] / "entry_points.txt").read_text()
    return {"site": str(site), "module": str(src / "parity_grader.py"), "root": root}


def _env(site: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "REWARD_FNS_MODULES")}
    if site:
        env["PYTHONPATH"] = site
    return env


def _python(code: str, site: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=_env(site), timeout=300)


def _cli(args: list, site: str | None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "verl_metaagent.cli", *args], capture_output=True, text=True,
                          env=_env(site), timeout=300)


def _benchmark(path, n: int = 2) -> str:
    rows = []
    for i, (number, parity) in enumerate([(7, "odd"), (4, "even")][:n]):
        q = f"Is {number} odd or even?"
        rows.append({"data_source": "parity/numbers", "prompt": [{"role": "user", "content": q}], "ability": "parity",
                     "reward_model": {"style": "rule", "ground_truth": parity},
                     "extra_info": {"index": i, "question": q, "task_type": "math"}})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_training_reward_functions_see_the_installed_grader(installed):
    out = _python("""
        import asyncio, json
        from omegaconf import OmegaConf
        from verl.trainer.ppo.reward import get_custom_reward_fn
        from verl_metaagent.rollout.grading import make_grader

        cfg = OmegaConf.create({"reward": {"custom_reward_function": {"path": "pkg://reward_fns", "name": "compute_score"}}})
        fn = get_custom_reward_fn(cfg)
        right = fn(data_source="parity/numbers", solution_str="7 is odd: \\\\boxed{odd}", ground_truth="odd", extra_info={})
        wrong = fn(data_source="parity", solution_str="\\\\boxed{even}", ground_truth="odd", extra_info={})
        rollout = asyncio.run(make_grader(None)("parity/numbers", "\\\\boxed{odd}", "odd", {}))
        print(json.dumps([right["score"], right["pred"], wrong["score"], rollout]))
    """, installed["site"])  # noqa: E501
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == [1.0, "odd", 0.0, 1.0]
    # without the package on the path, the same data source has no grader
    out = _python("import reward_fns; print(reward_fns.missing_graders(['parity/numbers']))", None)
    assert out.stdout.strip() == "['parity/numbers']"


def test_metaagent_eval_sees_the_installed_grader(installed, tmp_path):
    bench = _benchmark(tmp_path / "parity.jsonl")
    with FakeOpenAIServer(responder) as server:
        ok = _cli(["eval", "--out", str(tmp_path / "run"), "--benchmark", f"parity={bench}", "--systems",
                   "single_agent", "--base-url", server.base_url, "--model", "fake", "--no-progress", "--no-report"],
                  installed["site"])
        assert ok.returncode == 0, ok.stderr
        records = [json.loads(line) for line in open(tmp_path / "run" / "records.jsonl")]
        assert sorted(r["reward"] for r in records) == [1.0, 1.0]
        calls = len(server.requests)

        # not installed: refused before the first LLM call, naming the data source and the fixes
        missing = _cli(["eval", "--out", str(tmp_path / "run2"), "--benchmark", f"parity={bench}", "--systems",
                        "single_agent", "--base-url", server.base_url, "--model", "fake", "--no-progress"], None)
        assert missing.returncode == 2
        for part in ("'parity/numbers'", "the rows of parity", "--reward-module", "reward_fns.graders"):
            assert part in missing.stderr
        assert len(server.requests) == calls

        # or from a file: --reward-module
        from_file = _cli(["eval", "--out", str(tmp_path / "run3"), "--benchmark", f"parity={bench}", "--systems",
                          "single_agent", "--base-url", server.base_url, "--model", "fake", "--no-progress",
                          "--no-report", "--reward-module", installed["module"]], None)
        assert from_file.returncode == 0, from_file.stderr
        records = [json.loads(line) for line in open(tmp_path / "run3" / "records.jsonl")]
        assert sorted(r["reward"] for r in records) == [1.0, 1.0]


def test_metaagent_solve_checks_the_grader_before_any_call(installed):
    with FakeOpenAIServer(responder) as server:
        out = _cli(["solve", "Is 7 odd or even?", "--ground-truth", "odd", "--data-source", "parity/numbers", "--json",
                    "--base-url", server.base_url, "--model", "fake"], installed["site"])
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["reward"] == 1.0
        calls = len(server.requests)
        out = _cli(["solve", "Is 7 odd or even?", "--ground-truth", "odd", "--data-source", "parity/numbers",
                    "--base-url", server.base_url, "--model", "fake"], None)
        assert out.returncode == 2 and "'parity/numbers'" in out.stderr
        assert len(server.requests) == calls


def test_distillation_sees_the_installed_grader(installed, tmp_path):
    import pandas as pd

    rows = [json.loads(line) for line in open(_benchmark(tmp_path / "parity.jsonl"))]
    problems = tmp_path / "problems.parquet"
    pd.DataFrame(rows).to_parquet(problems)
    out_dir = tmp_path / "distill"
    with FakeOpenAIServer(responder) as server:
        out = subprocess.run(
            [sys.executable, "-m", "verl_metaagent.distill", "run", "--problems", str(problems), "--out", str(out_dir),
             "--base-url", server.base_url, "--model", "fake-teacher", "--api-key-env", "", "--num-designs", "1",
             "--num-executions", "1", "--no-progress", "--no-export"],
            capture_output=True, text=True, env=_env(installed["site"]), timeout=300,
        )
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in open(out_dir / "journal.jsonl")]
    done = [r for r in records if r.get("kind") == "problem"]
    assert len(done) == 2 and all(r["status"] == "done" for r in done)
    # only executions graded 1.0 (min_execution_reward) become executor samples: one per problem
    assert sorted(len(r["executor"]) for r in done) == [1, 1]
