"""Kill the CLI with SIGKILL mid-run (slow teacher on a loopback server), resume, check nothing is lost or doubled."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pandas as pd

from verl_metaagent.distill.journal import read_journal
from verl_metaagent.distill.runner import load_problems
from verl_metaagent.testing.openai_server import FakeOpenAIServer

from distill_teacher import ScriptedTeacher, teacher_args, write_problems

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
N = 10


def _cli(out: str, problems: str, server_url: str) -> list[str]:
    return [PYTHON, "-m", "verl_metaagent.distill", "run", "--problems", problems, "--out", out,
            *teacher_args(server_url), "--num-designs", "1", "--num-executions", "1", "--max-problems-in-flight", "2",
            "--max-concurrent-executions", "2", "--target-designer", "0", "--target-executor", "0", "--no-progress"]


def _done_records(journal: str) -> int:
    if not os.path.exists(journal):
        return 0
    with open(journal, "rb") as f:
        return sum(1 for line in f.read().split(b"\n") if b'"kind":"problem"' in line)


def test_sigkill_mid_run_then_resume_loses_nothing_and_doubles_nothing(tmp_path):
    problems = str(tmp_path / "problems.parquet")
    write_problems(problems, [(i, i + 1) for i in range(N)])
    ids = [p.id for p in load_problems([problems])[0]]
    out = str(tmp_path / "out")
    journal = os.path.join(out, "journal.jsonl")
    teacher = ScriptedTeacher(N, 1, 1, design_of=lambda i, j: "single", correct=lambda i, j, k: True, agent_delay=0.4)
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    with FakeOpenAIServer(teacher) as server:
        proc = subprocess.Popen(_cli(out, problems, server.base_url), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            while _done_records(journal) < 3 and proc.poll() is None:  # wait for progress, not for a time
                time.sleep(0.05)
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == -signal.SIGKILL
        killed = read_journal(journal)
        before = set(killed.done)
        assert 3 <= len(before) < N and killed.runs == []  # killed: no run record was written
        asked_before = dict(teacher.designer_requests)

        proc = subprocess.run(_cli(out, problems, server.base_url), cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"{len(before)} already journaled" in proc.stderr

    state = read_journal(journal)
    assert sorted(state.done) == sorted(ids)  # no loss
    assert state.duplicate_done == 0 and state.torn_tail == 0  # no duplicates
    assert len(state.runs) == 1 and state.runs[0]["finished"] is True
    # problems journaled before the kill were not asked again after the restart
    index = {pid: i for i, pid in enumerate(ids)}
    for pid in before:
        assert teacher.designer_requests[(index[pid], 0)] == asked_before[(index[pid], 0)] == 1
    designer = pd.read_parquet(os.path.join(out, "designer.parquet"))
    executor = pd.read_parquet(os.path.join(out, "executor.parquet"))
    assert sorted(designer["id"]) == sorted(f"designer_{pid}_d0" for pid in ids)
    assert sorted(executor["id"]) == sorted(f"executor_{pid}_d0e0_0" for pid in ids)
    assert designer["id"].is_unique and executor["id"].is_unique
    stats = json.load(open(os.path.join(out, "stats.json")))
    assert stats["designer"]["kept"] == N and stats["executor"]["kept"] == N and stats["designer"]["duplicates"] == 0


def test_second_writer_is_refused_while_a_run_holds_the_journal(tmp_path):
    from verl_metaagent.distill.journal import Journal

    path = str(tmp_path / "journal.jsonl")
    with Journal(path, {"a": 1}):
        code = "import sys; from verl_metaagent.distill.journal import Journal, JournalError\n" \
               "try:\n    Journal(sys.argv[1]).open()\nexcept JournalError as e:\n    print(e); sys.exit(3)\n"
        proc = subprocess.run([PYTHON, "-c", code, path], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3 and "locked by another distill run" in proc.stdout


def test_sigterm_stops_cleanly_and_says_how_to_resume(tmp_path):
    problems = str(tmp_path / "problems.parquet")
    write_problems(problems, [(i, i) for i in range(6)])
    out = str(tmp_path / "out")
    journal = os.path.join(out, "journal.jsonl")
    teacher = ScriptedTeacher(6, 1, 1, design_of=lambda i, j: "single", correct=lambda i, j, k: True, agent_delay=0.5)
    with FakeOpenAIServer(teacher) as server:
        proc = subprocess.Popen(_cli(out, problems, server.base_url), cwd=ROOT,
                                env=dict(os.environ, PYTHONWARNINGS="ignore"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while _done_records(journal) < 1 and proc.poll() is None:
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert "run the same command again to resume" in err
    state = read_journal(journal)
    assert 1 <= len(state.done) < 6 and len(state.runs) == 1 and state.runs[0]["finished"] is False
