"""A designer record as the released checkpoint writes it (tests/fixtures/release_designer_record.json:
`import os`, `import sys`, `from utils.environments.math_env import MathEnvironment`, a python tool,
`sys.exit(1)` on error) runs to a finished answer, is kept by `distill export --add`, and is scored
by `metaagent eval --release`."""

import json
import os

from verl_metaagent.testing.openai_server import FakeOpenAIServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORD = os.path.join(ROOT, "tests", "fixtures", "release_designer_record.json")
QUESTION = "What is 4 * 6?"


def designer_answer() -> str:
    with open(RECORD, encoding="utf-8") as f:
        return json.load(f)["conversations"][-1]["value"]


def reply_to(system: str, last_user: str) -> str:
    """The executor's answers: the Calculator runs Python first, everyone ends with 24."""
    if system.startswith("Compute the answer with Python"):
        if "Tool python_execute output" in last_user:
            assert "Code executed successfully.\nOutput: 24" in last_user  # the release's tool string, from a real run
            return "The product is \\boxed{24}."
        return "```python\nprint(4 * 6)\n```"
    if system.startswith("Check the previous result"):
        return "Verdict: CORRECT. The answer is \\boxed{24}."
    raise AssertionError(f"unexpected agent: {system[:60]!r}")


async def test_release_record_runs_to_a_finished_answer_through_the_scripted_backend(tiny_tokenizer):
    from verl_metaagent.backends import ScriptedBackend
    from verl_metaagent.clients import TokenPolicyClient
    from verl_metaagent.rollout.config import RolloutTreeConfig
    from verl_metaagent.rollout.grading import code_test_runner_factory, make_grader
    from verl_metaagent.rollout.tree_runner import ProblemSpec, TreeRunner

    def respond(prompt: str) -> str:
        if "Design Multi Agent System" in prompt:
            return designer_answer()
        system = prompt.split("<|im_start|>system\n", 1)[1].split("<|im_end|>", 1)[0]
        last_user = prompt.rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]
        return reply_to(system, last_user)

    backend = ScriptedBackend(tiny_tokenizer, respond)
    cfg = RolloutTreeConfig(num_designs=1, num_executions=1, prompt_variant="short").validate()
    runner = TreeRunner(cfg, TokenPolicyClient(backend, tiny_tokenizer), make_grader(None), prompt_length=8192,
                        response_length=2048, test_runner_factory=code_test_runner_factory())
    problem = ProblemSpec(uid="r0", problem_index=0, question=QUESTION, task_type="math", data_source="math/demo",
                          ground_truth="24")
    tree = await runner.grow(problem)
    design = tree.designs[0]
    assert design.valid, design.invalid_reason
    execution = design.executions[0]
    assert execution.status == "finished", execution.reason
    assert "\\boxed{24}" in execution.final_answer and execution.reward == 1.0
    assert [c.agent for c in execution.calls] == ["Calculator", "Calculator", "Checker", "Checker"]


def test_distill_export_keeps_a_single_record_json(tmp_path, capsys):
    from verl_metaagent.distill.cli import main
    from verl_metaagent.distill.export import read_sft_parquet

    out = tmp_path / "out"
    assert main(["export", "--out", str(out), "--add", RECORD, "--target-designer", "0", "--target-executor", "0"]) == 0
    err = capsys.readouterr().err
    assert ("release_designer_record.json: read 1, kept designer 1" in err
            and "skipped" not in err.split("kept designer 1")[1].split("\n")[0])
    designer = read_sft_parquet(str(out / "designer.parquet"))
    assert [s.id for s in designer] == ["designer_fixture_release_dialect_0001"]
    assert "from utils.environments.math_env import MathEnvironment" in designer[0].messages[-1]["content"]


def test_metaagent_eval_release_scores_the_release_design(tmp_path, capsys):
    from verl_metaagent.cli import main

    bench = tmp_path / "aime24.jsonl"
    bench.write_text(json.dumps({"data_source": "math/aime24", "prompt": [{"role": "user", "content": QUESTION}],
                                 "reward_model": {"ground_truth": "24"},
                                 "extra_info": {"index": 0, "question": QUESTION}}) + "\n")

    def responder(body):
        messages = body["messages"]
        first = messages[0]["content"]
        if first.startswith("Design Multi Agent System"):
            return designer_answer()
        return reply_to(first, [m["content"] for m in messages if m["role"] == "user"][-1])

    out = tmp_path / "run"
    with FakeOpenAIServer(responder) as server:
        assert main(["eval", "--out", str(out), "--benchmark", f"aime24={bench}", "--systems", "metaagent", "--release",
                     "--base-url", server.base_url, "--model", "MetaAgent-X", "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "| MetaAgent-X (design + execute) | 100.00 |" in table
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert [(r["correct"], r["llm_calls"]) for r in records] == [(True, 5)]  # designer + 4 agent calls
    assert records[0]["designs"][0]["pattern"] != "invalid"
