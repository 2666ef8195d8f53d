"""The ``metaagent`` command: solve through an endpoint and a local CPU model; eval / report / view; errors."""

import json
import os
import subprocess
import sys

import pytest

from verl_metaagent.cli import main
from verl_metaagent.testing.openai_server import FakeOpenAIServer

VOTE = """<think>three voters</think><code>
```python
from verl_metaagent.design.api import *
voters = [Agent(f"Voter{c}", f"You are Voter {c}. Put the answer in \\\\boxed{{}}.") for c in "ABC"]
finish(majority_vote([extract_answer(v.ask()) for v in voters]) or "")
```
</code>"""


def responder(body):
    first = body["messages"][0]["content"]
    if first.startswith("You design a multi-agent system") or first.startswith("Design Multi Agent System"):
        return VOTE
    if first.startswith("You are Voter B"):
        return "maybe \\boxed{6} \x1b[2J"  # a terminal escape in model output must not reach the terminal raw
    return "2 + 3 = \\boxed{5}"


def run_cli(*args, timeout=300):
    exe = os.path.join(os.path.dirname(sys.executable), "metaagent")
    cmd = [exe] if os.path.exists(exe) else [sys.executable, "-m", "verl_metaagent.cli"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout)


def test_solve_prints_design_transcript_and_answer():
    from verl_metaagent.design import parse_design, validate_design

    with FakeOpenAIServer(responder) as server:
        out = run_cli("solve", "What is 2+3?", "--base-url", server.base_url, "--model", "fake")
        as_json = run_cli("solve", "What is 2+3?", "--base-url", server.base_url, "--model", "fake", "--json",
                          "--ground-truth", "5", "--data-source", "math/aime24")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "=== Design 1 (designed by the model; pattern: ensemble; valid) ===" in text
    script = text.split("===\n", 1)[1].split("\n=== Execution 1")[0]
    assert validate_design(parse_design(script).code) == []
    assert "[call 1] VoterA" in text and "[call 2] VoterB" in text and "[call 3] VoterC" in text
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert text.rstrip().endswith("=== Answer ===\n5\n(4 LLM calls, " + text.rstrip().rsplit(", ", 1)[1])
    data = json.loads(as_json.stdout)
    assert (data["answer"], data["reward"], data["llm_calls"], data["pattern"]) == ("5", 1.0, 4, "ensemble")
    assert "majority_vote" in data["design"] and data["tree"]["designs"][0]["executions"][0]["final_answer"] == "5"


def test_solve_release_flag_uses_the_short_prompt_without_thinking():
    with FakeOpenAIServer(responder) as server:
        out = run_cli("solve", "What is 2+3?", "--base-url", server.base_url, "--model", "MetaAgent-X", "--release")
        designer = server.requests[0]
    assert out.returncode == 0, out.stderr
    assert designer["messages"] == [
        {"role": "user", "content": "Design Multi Agent System for the Question: What is 2+3?"}]
    assert designer["chat_template_kwargs"] == {"enable_thinking": False}


def test_solve_with_the_local_tiny_model(tiny_model_dir):
    out = run_cli("solve", "What is 2+3?", "--local-model", tiny_model_dir, "--design", "single_agent",
                  "--max-tokens", "8")
    assert out.returncode == 0, out.stderr
    assert "=== Design 1 (fixed design; pattern: single; valid) ===" in out.stdout
    assert 'solver = Agent("Solver", prompt)' in out.stdout and "[call 1] Solver" in out.stdout
    assert "=== Answer ===" in out.stdout and "(1 LLM calls, " in out.stdout
    # the random tiny model cannot write a valid design: reported, no answer, exit status 1
    out = run_cli("solve", "What is 2+3?", "--local-model", tiny_model_dir, "--max-tokens", "8")
    assert out.returncode == 1 and "INVALID" in out.stdout and "(no answer)" in out.stdout


@pytest.mark.parametrize("args,message", [
    (["solve", "q"], "exactly one of --base-url"),
    (["solve", "q", "--base-url", "http://127.0.0.1:9/v1"], "--base-url needs --model"),
    (["solve", "q", "--base-url", "ftp://x", "--model", "m"], "http://"),
    (["solve", "q", "--local-model", "/nonexistent"], "--local-model"),
    (["solve", "  ", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], "problem text is empty"),
    (["solve", "q", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--extra-body", "[1]"],
     "--extra-body must be a JSON object"),
    (["solve", "q", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--design", "nope"], "--design 'nope'"),
    (["solve", "q", "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--max-tokens", "0"],
     "--max-tokens must be > 0"),
    (["eval", "--out", "x", "--systems", "bogus", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
     "unknown system 'bogus'"),
    (["eval", "--out", "x", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], "no benchmarks"),
    (["report", "--out", "/nonexistent/run"], "no records"),
    (["view", "--out", "/nonexistent/run"], "no records"),
])
def test_bad_flags_exit_2_naming_the_flag(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_endpoint_failure_is_one_line_exit_1(capsys):
    from verl_metaagent.testing.openai_server import Reply

    with FakeOpenAIServer(lambda body: Reply(status=404, text="no such model")) as server:
        assert main(["solve", "q", "--base-url", server.base_url, "--model", "m"]) == 1
    err = capsys.readouterr().err
    assert "failed (EndpointError)" in err and "no such model" in err


def _eval_fixtures():
    """``(BENCHES, responder, row)`` of tests/eval/eval_fixtures.py (a sibling folder, not a package)."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "eval"))
    try:
        from eval_fixtures import BENCHES, responder, row
    finally:
        sys.path.pop(0)
    return BENCHES, responder, row


def test_eval_report_view(tmp_path, capsys):
    BENCHES, bench_responder, row = _eval_fixtures()
    data = tmp_path / "test"
    data.mkdir()
    with open(data / "aime24.jsonl", "w") as fh:
        fh.writelines(json.dumps(row("aime24", i, a, b)) + "\n" for i, (a, b) in enumerate(BENCHES["aime24"]))
    out = str(tmp_path / "run")
    with FakeOpenAIServer(bench_responder) as server:
        args = ["eval", "--out", out, "--benchmark", f"aime24={data / 'aime24.jsonl'}", "--systems",
                "single_agent,cot_sc,metaagent", "--base-url", server.base_url, "--model", "fake", "--no-progress"]
        assert main(args) == 0
        first = capsys.readouterr()
        assert main(args) == 0  # resumed: nothing left to do
        again = capsys.readouterr()
        assert len(server.requests) == 4 + 4 * 3 + 13
    assert "| MetaAgent-X (design + execute) | 75.00 | 75.00 | 3.25 |" in first.out
    assert "| CoT self-consistency (matched calls) | 50.00 | 50.00 | 3.00 |" in first.out
    assert "attempts: 12 (12 already done, 0 run now, 0 failed)" in again.err
    for name in ("results.md", "results.csv", "analysis.md", "plots/patterns_by_benchmark.png"):
        assert os.path.exists(os.path.join(out, name)), name
    assert main(["report", "--out", out, "--no-plots", "--title", "Again"]) == 0
    assert "## Again" in capsys.readouterr().out
    assert main(["view", "--out", out, "--system", "metaagent"]) == 0
    assert "wrote 4 pages" in capsys.readouterr().out
    assert os.path.exists(os.path.join(out, "view", "index.html"))


def test_eval_with_the_local_tiny_model(tiny_model_dir, tmp_path, capsys):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"data_source": "math/aime24", "prompt": [{"role": "user", "content": "What is 1+1?"}],
                                "reward_model": {"ground_truth": "2"}, "extra_info": {"index": 0}}) + "\n")
    out = str(tmp_path / "run")
    assert main(["eval", "--out", out, "--benchmark", f"aime24={path}", "--systems", "single_agent", "--local-model",
                 tiny_model_dir, "--max-tokens", "4", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "| Single agent | 0.00 | 0.00 | 1.00 |" in text


def test_recipe_script_runs_against_an_endpoint(tmp_path):
    BENCHES, bench_responder, row = _eval_fixtures()
    import pandas as pd

    data = tmp_path / "test"
    data.mkdir()
    pd.DataFrame([row("aime25", i, a, b) for i, (a, b) in enumerate(BENCHES["aime25"])]).to_parquet(
        data / "aime25.parquet")
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes",
                          "run_eval_endpoint.sh")
    with FakeOpenAIServer(bench_responder) as server:
        env = {**os.environ, "MODEL": "fake", "BASE_URL": server.base_url, "DATA_DIR": str(data),
               "OUT": str(tmp_path / "out"), "SYSTEMS": "single_agent,metaagent", "PYTHON": sys.executable}
        out = subprocess.run([script, "--no-progress"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "| Single agent | 50.00 | 50.00 | 1.00 |" in out.stdout and "wrote 4 pages" in out.stdout
    assert os.path.exists(tmp_path / "out" / "view" / "index.html")
