"""Loading benchmark rows (real data_prep output and hostile rows) and choosing systems."""

import json
import os
import sys

import pytest

from verl_metaagent.eval.benchmarks import BENCHMARKS, load_problems, resolve_benchmarks
from verl_metaagent.eval.settings import EvalSettings
from verl_metaagent.eval.systems import all_systems, parse_systems, solve_kwargs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "datasets")


def test_paper_benchmarks_in_paper_order():
    assert [b.label for b in BENCHMARKS.values()] == ["AIME24", "AIME25", "OlympiadBench", "APPS", "LiveCodeBench-v6",
                                                      "CodeContests"]


@pytest.mark.parametrize("script,dataset,fixture,task_type", [
    ("prepare_math", "aime24", "aime24.jsonl", "math"),
    ("prepare_code", "apps", "apps.jsonl", "code"),
    ("prepare_code", "livecodebench_v6", "livecodebench_v6.jsonl", "code"),
])
def test_loads_data_prep_parquet(tmp_path, script, dataset, fixture, task_type):
    sys.path.insert(0, os.path.join(ROOT, "examples", "data_prep"))
    try:
        module = __import__(script)
    finally:
        sys.path.pop(0)
    out = str(tmp_path / f"{dataset}.parquet")
    assert module.main(["--dataset", dataset, "--input", os.path.join(FIXTURES, fixture), "--output", out]) == 0
    problems = load_problems(dataset, out)
    assert problems and all(p.spec.task_type == task_type and p.spec.ground_truth for p in problems)
    assert len({p.problem_id for p in problems}) == len(problems)
    assert load_problems(dataset, out, limit=1)[0].problem_id == problems[0].problem_id


def test_resolve_benchmarks(tmp_path):
    (tmp_path / "aime24.parquet").write_bytes(b"")
    (tmp_path / "apps_test.parquet").write_bytes(b"")
    assert resolve_benchmarks([], str(tmp_path)) == [("aime24", str(tmp_path / "aime24.parquet")),
                                                     ("apps", str(tmp_path / "apps_test.parquet"))]
    assert resolve_benchmarks(["apps"], str(tmp_path)) == [("apps", str(tmp_path / "apps_test.parquet"))]
    for specs, data_dir, message in [
        (["nope"], str(tmp_path), "not one of"),
        (["aime25"], str(tmp_path), "does not exist"),
        (["aime24"], None, "needs --data-dir"),
        (["bad name=x"], None, "name must be"),
        ([], None, "no benchmarks"),
        ([], str(tmp_path / "missing"), "is not a folder"),
    ]:
        with pytest.raises(ValueError, match=message):
            resolve_benchmarks(specs, data_dir)


def test_hostile_rows_fail_with_the_row_named(tmp_path):
    path = tmp_path / "x.jsonl"
    good = {"data_source": "math/x", "prompt": [{"role": "user", "content": "q"}],
            "reward_model": {"ground_truth": "1"}, "extra_info": {}}
    path.write_text(json.dumps(good) + "\n" + json.dumps({**good, "reward_model": {}}) + "\n")
    with pytest.raises(ValueError, match=r"row 1 .*ground_truth"):
        load_problems("x", str(path))
    path.write_text(json.dumps({**good, "prompt": []}) + "\n")
    with pytest.raises(ValueError, match="row 0"):
        load_problems("x", str(path))
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match="x.jsonl:1"):
        load_problems("x", str(path))
    # duplicate source ids fall back to row numbers (ids stay unique)
    path.write_text("".join(json.dumps({**good, "extra_info": {"source_id": "same"}}) + "\n" for _ in range(2)))
    assert [p.problem_id for p in load_problems("x", str(path))] == ["0", "1"]


def test_parse_systems():
    refs = [s.id for s in all_systems() if s.id.startswith("ref:")]
    assert "ref:single_agent" not in refs and "ref:ensemble_vote" in refs
    assert [s.id for s in parse_systems("metaagent, single_agent")] == ["single_agent", "metaagent"]
    assert [s.id for s in parse_systems("refs")] == refs
    assert [s.id for s in parse_systems("debate")] == ["ref:debate"]
    assert len(parse_systems("all")) == 3 + len(refs)
    with pytest.raises(ValueError, match="unknown system 'x'"):
        parse_systems("x")
    code_fix = parse_systems("ref:code_generate_test_fix")[0]
    assert code_fix.applies_to("code") and not code_fix.applies_to("math")


def test_solve_kwargs_per_system(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(json.dumps({"data_source": "math/aime24", "prompt": [{"role": "user", "content": "What is 1+1?"}],
                                "reward_model": {"ground_truth": "2"}, "extra_info": {"index": 7}}) + "\n")
    problem = load_problems("aime24", str(path))[0]
    settings = EvalSettings(temperature=0.5, samples=2)
    sc = solve_kwargs(parse_systems("cot_sc")[0], problem, 1, settings, sc_k=5)
    assert sc["config"].validation.num_executions == 5 and sc["config"].validation.select == "majority"
    assert sc["config"].executor_sampling.temperature == 0.7 and "Agent(" in sc["design"]
    assert sc["uid"] == "aime24/7#s1"
    meta = solve_kwargs(parse_systems("metaagent")[0], problem, 0, EvalSettings(prompt_variant="short"))
    assert meta["design"] is None and meta["config"].prompt_variant == "short"
    with pytest.raises(ValueError, match="sc_k"):
        solve_kwargs(parse_systems("cot_sc")[0], problem, 0, settings)


@pytest.mark.parametrize("kwargs,message", [
    ({"samples": 2}, "identical attempts"), ({"samples": 0}, "--samples"), ({"sc_temperature": 0}, "--sc-temperature"),
    ({"select": "best"}, "--select"), ({"prompt_variant": "long"}, "--prompt-variant"), ({"sc_k": 0}, "--sc-k"),
])
def test_settings_errors_name_the_flag(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EvalSettings(**kwargs).validate()
