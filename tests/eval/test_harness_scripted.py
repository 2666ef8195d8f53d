"""The harness on a code benchmark with the scripted token backend (tiny tokenizer) and real code grading."""

import os
import sys

from verl_metaagent.eval import EvalSettings, evaluate_async, load_problems, parse_systems
from verl_metaagent.eval.metrics import summarize_cells
from verl_metaagent.eval.records import RunStore
from support.imports import heavy_imports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DESIGN = '''<think>code: write, test, fix once</think><code>
```python
from verl_metaagent.design.api import *
coder = Agent("Coder", "You write Python programs. Reply with one ```python block.")
code = extract_code(coder.ask()) or ""
report = run_tests(code, "public")
if not report.all_passed:
    code = extract_code(coder.ask("Fix it:\\n" + report.summary())) or code
finish(code)
```
</code>'''
BUGGY = "```python\na, b = map(int, input().split())\nprint(a - b)\n```"
FIXED = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"


def script(prompt: str) -> str:
    system = prompt.split("<|im_end|>")[0]
    if "You design a multi-agent system" in system:
        return DESIGN
    if "Fix it:" in prompt or "Your program fails the public tests" in prompt:
        return FIXED
    return BUGGY  # single agent, and every coder's first try


def apps_parquet(tmp_path) -> str:
    sys.path.insert(0, os.path.join(ROOT, "examples", "data_prep"))
    try:
        import prepare_code
    finally:
        sys.path.pop(0)
    out = str(tmp_path / "apps.parquet")
    fixture = os.path.join(ROOT, "tests", "fixtures", "datasets", "apps.jsonl")
    assert prepare_code.main(["--dataset", "apps", "--input", fixture, "--output", out]) == 0
    return out


async def test_code_benchmark_with_scripted_backend(tiny_tokenizer, tmp_path):
    from verl_metaagent.backends import ScriptedBackend
    from verl_metaagent.clients import TokenPolicyClient

    backend = ScriptedBackend(tiny_tokenizer, script)
    client = TokenPolicyClient(backend, tiny_tokenizer)
    problems = {
        "apps": [p for p in load_problems("apps", apps_parquet(tmp_path)) if "print their sum" in p.spec.question]}
    assert len(problems["apps"]) == 1 and problems["apps"][0].spec.task_type == "code"
    systems = parse_systems("single_agent,refs,metaagent")  # math-only references do not run on code
    report = await evaluate_async(problems, systems, client, str(tmp_path / "run"), EvalSettings(), progress=False)
    assert report.ran == 3 and report.errors == 0
    records = RunStore(str(tmp_path / "run")).load_records()
    cells = summarize_cells(records)
    assert {k[0]: (c.accuracy, c.calls) for k, c in cells.items()} == {
        "single_agent": (0.0, 1.0),               # a - b fails the hidden tests
        "ref:code_generate_test_fix": (1.0, 2.0),  # public tests fail -> fixed on the second call
        "metaagent": (1.0, 3.0),                   # designer + the design's two coder calls
    }
    assert len(backend.calls) == 6
    meta = next(r for r in records if r["system"] == "metaagent")
    assert meta["designs"][0]["pattern"] == "code_test" and meta["answer"].strip().endswith("print(a + b)")
    # completion tokens = the tokenised replies + one eos each (designer, first try, fix)
    replies = [DESIGN, BUGGY, FIXED]
    assert meta["completion_tokens"] == sum(len(tiny_tokenizer.encode(t, add_special_tokens=False)) + 1
                                            for t in replies)
    assert meta["tokens"] == meta["prompt_tokens"] + meta["completion_tokens"]


async def test_design_test_runner_answers_in_the_api_shape(tmp_path):
    from verl_metaagent.rollout.code_tests import api_test_runner_factory

    problem = [p for p in load_problems("apps", apps_parquet(tmp_path)) if "print their sum" in p.spec.question][0].spec
    run = api_test_runner_factory()(problem)
    report = await run(BUGGY, "public")
    # 1 2 -> -1 (expected 3), 10 -3 -> 13 (7), 0 0 -> 0 (0)
    assert (report["passed"], report["total"]) == (1, 3)
    assert [r["passed"] for r in report["results"]] == [False, False, True] and report["results"][0]["input"] == "1 2\n"
    report = await run(FIXED, [{"input": "2 2\n", "output": "4\n"}, {"input": "1 1\n", "output": "3\n"}])
    assert (report["passed"], report["total"]) == (1, 2)
    report = await run(FIXED, [{"input": "20 22\n", "output": None}])  # run_code
    assert report["results"][0]["stdout"] == "42\n" and report["results"][0]["error"] == ""
    report = await run("```python\nraise ValueError('boom')\n```", [{"input": "", "output": None}])
    assert "boom" in report["results"][0]["error"]


def test_eval_and_cli_import_no_torch_verl_or_ray():
    assert heavy_imports("import verl_metaagent.cli\n"
                         "from verl_metaagent.eval import evaluate, load_problems, write_report, "
                         "write_trace_pages, make_client\n"
                         "import verl_metaagent.eval.runner, verl_metaagent.eval.analysis") == []
