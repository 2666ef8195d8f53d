"""End to end through the loopback OpenAI-compatible server: known outcomes -> exact table numbers.

The expected numbers are worked out by hand from the outcome table in conftest.py.
"""

import csv
import io
import json

import pytest

from eval_fixtures import load_problems_of, responder
from verl_metaagent.clients import OpenAIChatClient
from verl_metaagent.eval import EvalSettings, evaluate_async, parse_systems, render_csv, render_markdown
from verl_metaagent.eval.analysis import accuracy_by_difficulty, design_sizes, pattern_counts
from verl_metaagent.eval.metrics import summarize_cells, summarize_systems
from verl_metaagent.eval.records import RunStore
from verl_metaagent.testing.openai_server import FakeOpenAIServer

SYSTEMS = "single_agent,cot_sc,ref:ensemble_vote,metaagent"


async def run(bench_files, out, *, systems=SYSTEMS, settings=None, server_fn=responder):
    with FakeOpenAIServer(server_fn) as server:
        client = OpenAIChatClient(server.base_url, "fake", api_key_env=None, max_concurrency=8)
        report = await evaluate_async(load_problems_of(bench_files), parse_systems(systems), client, str(out),
                                      settings or EvalSettings(), progress=False)
        await client.aclose()
    return report, server, client


async def test_known_outcomes_give_exact_table(bench_files, tmp_path):
    report, server, client = await run(bench_files, tmp_path / "run")
    # attempts: 6 problems x (single, cot_sc, ensemble_vote, metaagent)
    assert (report.total, report.ran, report.skipped, report.errors) == (24, 24, 0, 0)
    # CoT-SC votes = MetaAgent-X's mean calls rounded half up: aime24 (4+4+4+1)/4 = 3.25 -> 3; aime25 4
    assert report.sc_k == {"aime24": 3, "aime25": 4}
    # LLM requests: single 6, cot_sc 4*3 + 2*4 = 20, ensemble 6*3 = 18, metaagent 3*4 + 1 + 2*4 = 21
    assert len(server.requests) == 6 + 20 + 18 + 21 == client.usage.calls

    records = RunStore(str(tmp_path / "run")).load_records()
    cells = summarize_cells(records)
    acc = {k: round(100 * c.accuracy, 2) for k, c in cells.items()}
    assert acc == {
        ("single_agent", "aime24"): 50.0, ("single_agent", "aime25"): 50.0,
        ("cot_sc", "aime24"): 50.0, ("cot_sc", "aime25"): 50.0,
        ("ref:ensemble_vote", "aime24"): 75.0, ("ref:ensemble_vote", "aime25"): 50.0,
        ("metaagent", "aime24"): 75.0, ("metaagent", "aime25"): 50.0,
    }
    assert cells[("metaagent", "aime24")].calls == 3.25 and cells[("cot_sc", "aime25")].calls == 4.0
    assert cells[("cot_sc", "aime24")].sc_k == 3
    systems = summarize_systems(records)
    assert {s: (round(100 * v.accuracy, 2), round(v.calls, 4), v.solved, v.attempts) for s, v in systems.items()} == {
        "single_agent": (50.0, 1.0, 3, 6),
        "cot_sc": (50.0, round(20 / 6, 4), 3, 6),
        "ref:ensemble_vote": (62.5, 3.0, 4, 6),
        "metaagent": (62.5, 3.5, 4, 6),
    }
    # tokens: the records add up to what the endpoint reported, and per solved = total / solved
    assert sum(r["tokens"] for r in records) == client.usage.as_dict()["total_tokens"]
    meta = systems["metaagent"]
    assert meta.tokens_per_solved == sum(r["tokens"] for r in records if r["system"] == "metaagent") / 4
    # single agent: the endpoint counts words; one call = system prompt + "Question:\nWhat is a+b?" + reply
    single_req = [b for b in server.requests
                  if b["messages"][0]["content"].startswith("You are an expert mathematician")]
    single_tokens = {r["problem_id"]: r["tokens"] for r in records if r["system"] == "single_agent"}
    # + "Question: What is 1+1?" + "The answer is \boxed{2}"
    words = len(single_req[0]["messages"][0]["content"].split()) + 4 + 4
    assert set(single_tokens.values()) == {words}

    table = render_markdown(records)
    main_table = table.split("### ")[0]
    lines = {line.split(" | ")[0].lstrip("| "): line for line in main_table.splitlines() if line.startswith("| ")}
    # 27 tokens = 19 words of the single agent's system prompt + 4 ("Question: What is 1+1?") + 4 (reply); 54 per solved
    assert lines["Single agent"] == "| Single agent | 50.00 | 50.00 | 50.00 | 1.00 | 27 | 54 |"
    assert lines["CoT self-consistency (matched calls)"].startswith(
        "| CoT self-consistency (matched calls) | 50.00 | 50.00 | 50.00 | 3.33 |")
    assert lines["Fixed: ensemble_vote (ensemble)"].startswith(
        "| Fixed: ensemble_vote (ensemble) | 75.00 | 50.00 | 62.50 | 3.00 |")
    assert lines["MetaAgent-X (design + execute)"].startswith(
        "| MetaAgent-X (design + execute) | 75.00 | 50.00 | 62.50 | 3.50 |")
    assert "| Method | AIME24 | AIME25 | Avg. | LLM calls / problem | tokens / problem | tokens / solved |" in table
    assert "AIME24 k=3, AIME25 k=4" in table and "Accuracy: pass@1 (%)" in table
    rows = list(csv.DictReader(io.StringIO(render_csv(records))))
    assert [(r["system"], r["aime24_accuracy"], r["aime25_accuracy"], r["avg_accuracy"], r["llm_calls_per_problem"])
            for r in rows] == [
        ("single_agent", "50.0", "50.0", "50.0", "1.0"),
        ("cot_sc", "50.0", "50.0", "50.0", "3.3333"),
        ("ref:ensemble_vote", "75.0", "50.0", "62.5", "3.0"),
        ("metaagent", "75.0", "50.0", "62.5", "3.5"),
    ]

    # structure analysis: designs by benchmark and by single-agent difficulty
    assert pattern_counts(records, by="benchmark") == {"aime24": {"ensemble": 3, "invalid": 1},
                                                       "aime25": {"ensemble": 2}}
    assert pattern_counts(records, by="difficulty") == {"easy": {"ensemble": 2, "invalid": 1}, "hard": {"ensemble": 3}}
    sizes = design_sizes(records)["all"]
    assert (sizes["designs"], sizes["valid_share"], sizes["agents_mean"],
            sizes["calls_per_execution_mean"]) == (6, 5 / 6, 3.0, 3.0)
    assert accuracy_by_difficulty(records)["metaagent"] == {"easy": (2, 3), "hard": (2, 3)}
    assert accuracy_by_difficulty(records)["single_agent"] == {"easy": (3, 3), "hard": (0, 3)}


async def test_release_checkpoint_dialect_through_endpoint(bench_files, tmp_path):
    """The public checkpoint: short designer prompt, thinking off, designs in the release's workflow dialect."""
    settings = EvalSettings(prompt_variant="short")
    with FakeOpenAIServer(lambda body: responder(body, release=True)) as server:
        client = OpenAIChatClient(server.base_url, "MetaAgent-X", api_key_env=None,
                                  extra_body={"chat_template_kwargs": {"enable_thinking": False}})
        await evaluate_async(load_problems_of(bench_files), parse_systems("metaagent"), client, str(tmp_path / "rel"),
                             settings, progress=False)
        await client.aclose()
    designer = [b for b in server.requests
                if b["messages"][0]["content"].startswith("Design Multi Agent System for the Question:")]
    assert len(designer) == 6 and all(len(b["messages"]) == 1 for b in designer)
    assert all(b["chat_template_kwargs"] == {"enable_thinking": False} for b in server.requests)
    records = {r["problem_id"]: r for r in RunStore(str(tmp_path / "rel")).load_records()}
    # 1+1 unanimous; 2+2 and 3+3 split -> the judge decides (right); 4+4 invalid; 5+5 unanimous; 6+6 unanimous wrong
    assert {pid: (r["correct"], r["llm_calls"]) for pid, r in records.items()} == {
        "aime24-0": (True, 4), "aime24-1": (True, 5), "aime24-2": (True, 5), "aime24-3": (False, 1),
        "aime25-0": (True, 4), "aime25-1": (False, 4),
    }
    assert {d["pattern"] for r in records.values() for d in r["designs"]} == {"ensemble", "invalid"}


async def test_resume_skips_done_attempts_and_never_duplicates(bench_files, tmp_path):
    out = tmp_path / "run"
    full, _, _ = await run(bench_files, tmp_path / "reference")
    await run(bench_files, out)
    path = out / "records.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    kept = lines[:10]
    # a crash mid-write leaves half a line behind
    path.write_text("".join(kept) + lines[10][: len(lines[10]) // 2])
    report, server, _ = await run(bench_files, out)
    assert (report.total, report.skipped, report.ran) == (24, 10, 14)
    # only the missing attempts were asked again
    done = [json.loads(line) for line in kept]
    expected_calls = (sum(r["llm_calls"] for r in RunStore(str(tmp_path / "reference")).load_records())
                      - sum(r["llm_calls"] for r in done))
    assert len(server.requests) == expected_calls
    records = [json.loads(line) for line in path.read_text().splitlines()
               if line.startswith("{") and line.endswith("}")]
    keys = [(r["system"], r["benchmark"], r["problem_id"], r["sample"]) for r in records]
    assert len(keys) == len(set(keys)) == 24
    assert (render_markdown(RunStore(str(out)).load_records())
            == render_markdown(RunStore(str(tmp_path / "reference")).load_records()))
    # a third run has nothing left to do
    report, server, _ = await run(bench_files, out)
    assert (report.skipped, report.ran, len(server.requests)) == (24, 0, 0)


async def test_resume_refuses_changed_settings(bench_files, tmp_path):
    await run(bench_files, tmp_path / "run", systems="single_agent")
    with pytest.raises(ValueError, match="temperature"):
        await run(bench_files, tmp_path / "run", systems="single_agent", settings=EvalSettings(temperature=0.5))


async def test_failed_attempts_are_logged_and_retried(bench_files, tmp_path):
    from verl_metaagent.eval.runner import EvalAborted
    from verl_metaagent.testing.openai_server import Reply

    def broken(body):
        return Reply(status=400, text="model not found")

    with pytest.raises(EvalAborted, match="rerun"):
        await run(bench_files, tmp_path / "run", systems="single_agent",
                  settings=EvalSettings(max_errors=2, concurrency=1), server_fn=broken)
    errors = RunStore(str(tmp_path / "run")).errors.read()
    assert len(errors) == 2 and "model not found" in errors[0]["error"]
    report, _, _ = await run(bench_files, tmp_path / "run", systems="single_agent",
                             settings=EvalSettings(max_errors=2, concurrency=1))
    assert (report.ran, report.errors) == (6, 0)


async def test_cot_sc_without_budget_source_is_refused(bench_files, tmp_path):
    with pytest.raises(ValueError, match="--sc-k"):
        await run(bench_files, tmp_path / "run", systems="cot_sc")
    report, server, _ = await run(bench_files, tmp_path / "run2", systems="cot_sc", settings=EvalSettings(sc_k=2))
    assert report.sc_k == {"aime24": 2, "aime25": 2} and len(server.requests) == 12


async def test_samples_give_avg_at_k(bench_files, tmp_path):
    settings = EvalSettings(samples=2, temperature=0.7)
    report, server, _ = await run(bench_files, tmp_path / "run", systems="single_agent", settings=settings)
    assert report.ran == 12
    seeds = {(b["messages"][-1]["content"], b["seed"]) for b in server.requests}
    assert len(seeds) == 12  # every attempt has its own seed
    table = render_markdown(RunStore(str(tmp_path / "run")).load_records())
    assert "Accuracy: avg@2 (%)" in table
