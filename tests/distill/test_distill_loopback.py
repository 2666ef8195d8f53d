"""Distillation against a scripted teacher on a loopback OpenAI-compatible server.

Five "a + b" problems, M=2 designs x N=2 executions. Per problem:

  p0: vote (correct), single (correct)            -> 2 designer, 6 + 2 executor chats
  p1: vote (execution 0 correct, 1 wrong), invalid -> 1 designer (mean 0.5), 3 executor chats
  p2: vote (correct), single without <think>       -> 1 designer, 6 + 2 executor chats
  p3: vote, reflection-free single; all answers wrong -> nothing
  p4: the teacher answers HTTP 500 to every designer request -> error record, retried on resume

Faults injected once each (then the request succeeds on retry): a 429 with Retry-After, a 503,
a malformed body and a reply slower than the client's timeout.
"""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from verl_metaagent.distill.export import ExportConfig, export
from verl_metaagent.distill.journal import read_journal
from verl_metaagent.distill.runner import DistillConfig, TeacherConfig, load_problems, run_distill
from verl_metaagent.testing.openai_server import FakeOpenAIServer, Reply

from distill_teacher import ScriptedTeacher, write_problems

PAIRS = [(2, 3), (10, 20), (7, 8), (4, 4), (1, 1)]
DESIGN_OF = {(0, 0): "vote", (0, 1): "single", (1, 0): "vote", (1, 1): "invalid", (2, 0): "vote", (2, 1): "no_think",
             (3, 0): "vote", (3, 1): "single", (4, 0): "vote", (4, 1): "vote"}


def _correct(i, j, k):
    if i == 3:
        return False
    if i == 1:
        return k == 0
    return True


def _teacher(**kw):
    faults = {
        ("designer", 0, 0): Reply(status=429, retry_after=0, text="slow down"),
        ("designer", 0, 1): Reply(status=503, text="busy"),
        ("designer", 1, 0): Reply(raw_body="<html>bad gateway</html>"),
        ("designer", 2, 0): Reply(text="too late", delay=3.0),  # longer than the client's 1 s timeout
    }
    return ScriptedTeacher(len(PAIRS), 2, 2, design_of=lambda i, j: DESIGN_OF[(i, j)], correct=_correct, faults=faults,
                           always_fail=(4,), **kw)


def _config(tmp_path, server, **kw) -> DistillConfig:
    problems = str(tmp_path / "problems.parquet")
    if not os.path.exists(problems):
        write_problems(problems, PAIRS)
    cfg = DistillConfig(
        problems=[problems],
        out=str(tmp_path / "out"),
        teacher=TeacherConfig(base_url=server.base_url, model="fake-teacher", api_key_env=None, max_concurrency=8,
                              max_retries=2, timeout=1.0, backoff_base=0.01, backoff_cap=0.05, price_in=1.0,
                              price_out=2.0),
        num_designs=2, num_executions=2, max_tokens=256, max_problems_in_flight=3, max_concurrent_executions=4,
        max_attempts=2, export=ExportConfig(target_designer=0, target_executor=0),
    )
    for k, v in kw.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture
def ids(tmp_path):
    problems = str(tmp_path / "problems.parquet")
    write_problems(problems, PAIRS)
    loaded, counts = load_problems([problems])
    assert counts["rows"] == 5 and counts.get("duplicates", 0) == 0
    return [p.id for p in loaded]


async def test_loopback_distillation_produces_the_expected_samples(tmp_path, ids):
    teacher = _teacher()
    with FakeOpenAIServer(teacher) as server:
        cfg = _config(tmp_path, server)
        summary = await run_distill(cfg, progress=False)
        assert (summary.done, summary.errors, summary.skipped_done) == (4, 1, 0)
        assert "EndpointError" in summary.first_error and "HTTP 500" in summary.first_error
        # one retry per injected fault (429, 503, malformed, timeout) + 2 retries of each of p4's two designs
        assert summary.usage["retries"] == 4 + 2 * 2
        assert summary.usage["failures"] == 2
        # the cost tally: the journaled trees account for every successful call
        state = read_journal(os.path.join(cfg.out, "journal.jsonl"))
        tree_usage = state.usage()
        assert tree_usage["calls"] == summary.usage["calls"]
        assert (tree_usage["prompt_tokens"] == summary.usage["prompt_tokens"]
                and tree_usage["completion_tokens"] == summary.usage["completion_tokens"])
        assert tree_usage["cost_usd"] == pytest.approx(
            (summary.usage["prompt_tokens"] * 1.0 + summary.usage["completion_tokens"] * 2.0) / 1e6)
        assert summary.usage["cost_usd"] == pytest.approx(tree_usage["cost_usd"])
        # every problem's designs were requested: p4 three times each (1 + 2 retries), the faulty ones twice
        assert teacher.designer_requests[(4, 0)] == 3 and teacher.designer_requests[(0, 0)] == 2

        report = export(cfg.out, cfg.export)
    rejected = state.rejected()
    assert rejected["designer: invalid design"] == 1
    assert rejected["designer: no <think> analysis"] == 1
    assert rejected["designer: mean reward below threshold"] == 2  # p3's two designs
    assert rejected["executor: execution incorrect"] == 1 + 4  # p1 k=1, p3 all four

    designer = pd.read_parquet(report.files["designer"])
    executor = pd.read_parquet(report.files["executor"])
    p = ids
    assert sorted(designer["id"]) == sorted(
        [f"designer_{p[0]}_d0", f"designer_{p[0]}_d1", f"designer_{p[1]}_d0", f"designer_{p[2]}_d0"])
    assert dict(zip(designer["id"], designer["pattern"])) == {
        f"designer_{p[0]}_d0": "ensemble", f"designer_{p[0]}_d1": "single", f"designer_{p[1]}_d0": "ensemble",
        f"designer_{p[2]}_d0": "ensemble"}
    assert dict(zip(designer["id"], designer["reward"]))[f"designer_{p[1]}_d0"] == 0.5
    expected_exec = (
        [f"executor_{p[0]}_d0e{k}_{n}" for k in range(2) for n in range(3)]
        + [f"executor_{p[0]}_d1e{k}_0" for k in range(2)] + [f"executor_{p[1]}_d0e0_{n}" for n in range(3)]
        + [f"executor_{p[2]}_d0e{k}_{n}" for k in range(2) for n in range(3)]
        + [f"executor_{p[2]}_d1e{k}_0" for k in range(2)]
    )
    assert sorted(executor["id"]) == sorted(expected_exec)
    assert report.designer["kept"] == 4 and report.executor["kept"] == 19
    assert set(executor["agent"]) == {"S0", "S1", "S2", "Solver"}

    # designer rows: the short prompt + the canonical answer
    row = designer[designer["id"] == f"designer_{p[0]}_d1"].iloc[0]
    messages = [dict(m) for m in row["messages"]]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "Design Multi Agent System for the Question: What is 2 + 3?"
    answer = messages[1]["content"]
    assert (answer.startswith("<think>\nProblem type: MATH (arithmetic).")
            and "Workflow pattern: single agent." in answer)
    assert answer.endswith("finish(extract_answer(solver.ask()))\n```\n</code>")
    assert "</think>\n<code>\n```python\nfrom verl_metaagent.design.api import *\n" in answer
    # executor rows: the agent's chat, ending with its (correct) reply
    row = executor[executor["id"] == f"executor_{p[0]}_d1e0_0"].iloc[0]
    messages = [dict(m) for m in row["messages"]]
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[0]["content"].startswith("Solve it. Put the answer in \\boxed{}.")
    assert "What is 2 + 3?" in messages[1]["content"]
    assert messages[2]["content"].endswith("2 + 3 = 5. \\boxed{5}")
    assert (row["role"], row["reward"], row["pattern"], row["source"]) == ("executor", 1.0, "single",
                                                                           "distill:fake-teacher")

    stats = json.load(open(report.files["stats"]))
    assert stats["problems_done"] == 4 and stats["problems_failed"] == 1
    assert stats["patterns"]["designer"] == {"ensemble": 3, "single": 1}


async def test_resume_skips_done_problems_and_gives_up_after_max_attempts(tmp_path, ids):
    teacher = _teacher()
    with FakeOpenAIServer(teacher) as server:
        cfg = _config(tmp_path, server)
        first = await run_distill(cfg, progress=False)
        assert (first.done, first.errors) == (4, 1)
        second = await run_distill(cfg, progress=False)  # only p4 is retried (attempt 2 of 2)
        assert (second.skipped_done, second.attempted, second.done, second.errors) == (4, 1, 0, 1)
        third = await run_distill(cfg, progress=False)
        assert (third.skipped_done, third.skipped_gave_up, third.attempted) == (4, 1, 0)
    for i in range(4):  # done problems were never asked again
        assert [teacher.designer_requests[(i, j)] for j in range(2)] == teacher_counts(i)
    state = read_journal(os.path.join(cfg.out, "journal.jsonl"))
    assert sorted(state.done) == sorted(ids[:4]) and state.errors[ids[4]] == 2
    assert state.duplicate_done == 0 and len(state.runs) == 3


def teacher_counts(i):
    """Designer requests per design of problem i in one run: +1 for a design with an injected fault."""
    faulty = {(0, 0), (0, 1), (1, 0), (2, 0)}
    return [1 + ((i, j) in faulty) for j in range(2)]


async def test_targets_stop_the_run_early(tmp_path, ids):
    teacher = _teacher()
    with FakeOpenAIServer(teacher) as server:
        cfg = _config(tmp_path, server, max_problems_in_flight=1, oversample=1.0)
        cfg.export = ExportConfig(target_designer=2, target_executor=3)
        summary = await run_distill(cfg, progress=False)
    # p0 alone yields 2 designer and 8 executor candidates: the run stops after it
    assert summary.stopped_at_target and summary.done == 1 and summary.kept == {"designer": 2, "executor": 8}
    assert sorted(teacher.designer_requests) == [(0, 0), (0, 1)]


async def test_resume_with_other_tree_settings_is_refused(tmp_path, ids):
    from verl_metaagent.distill.journal import JournalError

    teacher = _teacher()
    with FakeOpenAIServer(teacher) as server:
        cfg = _config(tmp_path, server, limit=1)
        await run_distill(cfg, progress=False)
        asked = len(server.requests)
        cfg.num_executions += 1
        cfg.max_concurrent_executions += 1  # operational settings may change
        with pytest.raises(JournalError, match=r"num_executions: 2 -> 3.*new --out folder"):
            await run_distill(cfg, progress=False)
        assert len(server.requests) == asked  # refused before any request
        cfg.num_executions -= 1
        again = await run_distill(cfg, progress=False)
    assert again.skipped_done == 1 and again.attempted == 0
