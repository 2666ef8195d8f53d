"""Data preparation: every script turns its source-schema fixture rows into verl parquet that
verl's ``RLHFDataset`` loads with a tokenizer and whose ground truth ``reward_fns`` grades."""

from __future__ import annotations

import json
import os
import sys

import pandas as pd
import pytest

from reward_fns import compute_score

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "datasets")
sys.path.insert(0, os.path.join(ROOT, "examples", "data_prep"))

import dp_common  # noqa: E402
import mix  # noqa: E402
import prepare_code  # noqa: E402
import prepare_math  # noqa: E402

# (script module, --dataset, fixture file, data_source, rows kept, drop counts)
CASES = [
    (prepare_math, "polaris", "polaris.jsonl", "math/polaris", 3, {"duplicate question": 1, "no answer": 1}),
    (prepare_math, "aime24", "aime24.jsonl", "math/aime24", 2, {}),
    (prepare_math, "aime25", "aime25.jsonl", "math/aime25", 2, {}),
    (prepare_math, "olympiadbench", "olympiadbench.jsonl", "math/olympiadbench", 2, {"needs an image": 1}),
    (prepare_code, "apps", "apps.jsonl", "code/apps", 2, {"no tests": 1}),
    (prepare_code, "codecontests", "code_contests.jsonl", "code/codecontests", 2,
     {"file I/O (input_file/output_file)": 1, "no tests": 1}),
    (prepare_code, "livecodebench_v6", "livecodebench_v6.jsonl", "code/livecodebench_v6", 2, {}),
]
IDS = [c[1] for c in CASES]
EXTRA_KEYS = set(dp_common.EXTRA_INFO_KEYS)


def _run(module, dataset, fixture, out_dir, *extra):
    out = os.path.join(out_dir, f"{dataset}.parquet")
    assert module.main(["--dataset", dataset, "--input", os.path.join(FIXTURES, fixture), "--output", out, *extra]) == 0
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("dp")
    return {c[1]: _run(c[0], c[1], c[2], str(out_dir)) for c in CASES}


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer):
    """The shared tiny Qwen-like tokenizer (tests/conftest.py) that verl's RLHFDataset tokenizes with."""
    return tiny_tokenizer


@pytest.mark.parametrize("module,dataset,fixture,data_source,kept,drops", CASES, ids=IDS)
def test_rows_and_report(module, dataset, fixture, data_source, kept, drops, tmp_path, capsys):
    out = _run(module, dataset, fixture, str(tmp_path))
    report = capsys.readouterr().err
    assert f"kept {kept}" in report
    for reason, n in drops.items():
        assert f"dropped {n} ({reason})" in report
    df = pd.read_parquet(out)
    assert len(df) == kept
    assert list(df.columns) == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    for i, row in enumerate(dp_common.plain(r) for r in df.to_dict(orient="records")):
        assert row["data_source"] == data_source
        assert row["ability"] == data_source.split("/")[0]
        assert row["reward_model"]["style"] == "rule" and isinstance(row["reward_model"]["ground_truth"], str)
        assert [m["role"] for m in row["prompt"]] == ["user"]
        info = row["extra_info"]
        assert set(info) == EXTRA_KEYS
        assert info["index"] == i and info["task_type"] == row["ability"]
        assert info["question"] and info["question"] in row["prompt"][0]["content"]
        if row["ability"] == "code":
            hidden, public = json.loads(row["reward_model"]["ground_truth"]), json.loads(info["public_tests"])
            assert len(hidden["inputs"]) == len(hidden["outputs"]) >= 1
            assert 1 <= len(public["inputs"]) <= 3
            assert public.get("fn_name") == hidden.get("fn_name")
        else:
            assert info["public_tests"] == "" and "\\boxed{}" in row["prompt"][0]["content"]


def test_math_ground_truth_values(converted):
    gts = {d: [dp_common.plain(r)["ground_truth"] for r in pd.read_parquet(converted[d])["reward_model"]]
           for d in ("polaris", "aime24", "olympiadbench")}
    assert gts["polaris"] == ["210", "\\frac{7}{8}", "97"]
    assert gts["aime24"] == ["16", "1"]  # int answers become strings
    assert gts["olympiadbench"] == ["\\frac{1}{2}", "-3,3"]  # $...$ stripped from final_answer[0]


def test_code_ground_truth_shapes(converted):
    apps = [json.loads(g["ground_truth"]) for g in pd.read_parquet(converted["apps"])["reward_model"]]
    assert apps[0] == {"inputs": ["1 2\n", "10 -3\n", "0 0\n"], "outputs": ["3\n", "7\n", "0\n"]}
    assert apps[1]["fn_name"] == "double_all" and apps[1]["inputs"][0] == [[1, 2, 3]]
    cc = json.loads(pd.read_parquet(converted["codecontests"])["reward_model"][0]["ground_truth"])
    assert cc["inputs"] == ["1 5 3\n", "-1 -2 -3\n", "7 7 7\n", "100 0 99\n"]  # public + private + generated
    lcb = [json.loads(g["ground_truth"]) for g in pd.read_parquet(converted["livecodebench_v6"])["reward_model"]]
    assert lcb[0]["inputs"] == ["ab\n", "x\n", "hello\n"] and "fn_name" not in lcb[0]  # public + decompressed private
    assert lcb[1]["fn_name"] == "sumPlusK" and lcb[1]["inputs"] == ["[1, 2, 3]\n4", "[]\n0", "[-5]\n5"]


def test_lcb_compressed_tests_round_trip_and_refuse_globals():
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert prepare_code.decode_lcb_tests(prepare_code.encode_lcb_tests(tests)) == tests
    assert prepare_code.decode_lcb_tests(json.dumps(tests)) == tests
    import base64
    import pickle
    import zlib

    evil = base64.b64encode(zlib.compress(pickle.dumps(os.path.join))).decode()  # a pickled global
    with pytest.raises(ValueError, match="refusing to load posixpath.join"):
        prepare_code.decode_lcb_tests(evil)


def test_rlhf_dataset_loads_every_file(converted, tokenizer):
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 8192, "filter_overlong_prompts": True,
                               "truncation": "error", "return_raw_chat": True})
    for dataset, path in converted.items():
        ds = RLHFDataset(data_files=path, tokenizer=tokenizer, config=config)
        assert len(ds) == 2 or (dataset == "polaris" and len(ds) == 3)
        item = ds[0]
        assert item["data_source"].startswith(("math/", "code/"))
        assert item["raw_prompt"][0]["role"] == "user"
        assert item["extra_info"]["index"] == 0 and item["extra_info"]["question"]
        assert item["reward_model"]["style"] == "rule"


def test_rows_meet_the_rollout_contract(converted, tokenizer):
    """What the hierarchical rollout reads from a dataset row (question, task type, tests)."""
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_metaagent.design.prompts import build_designer_messages
    from verl_metaagent.rollout.problems import problem_from_fields  # what every rollout reads a row with

    config = OmegaConf.create({"max_prompt_length": 8192})
    for path in converted.values():
        item = RLHFDataset(data_files=path, tokenizer=tokenizer, config=config)[0]
        _check_problem(item, problem_from_fields, build_designer_messages)


def _check_problem(item, problem_from_fields, build_designer_messages):
    problem = problem_from_fields(dict(item), uid="u0", problem_index=0)
    if item["ability"] == "code":
        # code designs see the full task: question + starter code + I/O contract (the prompt)
        assert problem.question == item["raw_prompt"][-1]["content"]
        assert problem.question.startswith(item["extra_info"]["question"].strip()[:40])
        starter = item["extra_info"].get("starter_code") or ""
        assert starter.strip()[:30] in problem.question
        assert ("standard input" in problem.question) or ("do not read stdin" in problem.question)
    else:
        assert problem.question == item["extra_info"]["question"]
    assert problem.task_type == item["ability"] == item["extra_info"]["task_type"]
    assert problem.data_source == item["data_source"] and problem.ground_truth == item["reward_model"]["ground_truth"]
    task = {"question": problem.question, "task_type": problem.task_type}
    if problem.task_type == "code":
        task["public_tests"] = problem.extra_info["public_tests"]
    text = build_designer_messages(task)[-1]["content"]
    assert problem.question[:40] in text
    if problem.task_type == "code":
        first_input = json.loads(problem.extra_info["public_tests"])["inputs"][0]
        assert "Public tests" in text and str(first_input).strip()[:10] in text


@pytest.mark.parametrize("dataset", ["polaris", "aime24", "aime25", "olympiadbench"])
def test_reward_fns_grades_math_rows(converted, dataset):
    for row in (dp_common.plain(r) for r in pd.read_parquet(converted[dataset]).to_dict(orient="records")):
        gt = row["reward_model"]["ground_truth"]
        assert compute_score(row["data_source"], f"The answer is \\boxed{{{gt}}}.", gt,
                             row["extra_info"])["score"] == 1.0
        assert compute_score(row["data_source"], "The answer is \\boxed{123456789}.", gt,
                             row["extra_info"])["score"] == 0.0


@pytest.mark.parametrize("dataset", ["apps", "codecontests", "livecodebench_v6"])
def test_reward_fns_grades_code_rows(converted, dataset):
    with open(os.path.join(FIXTURES, "solutions.json")) as f:
        solutions = json.load(f)[dataset]
    for row in (dp_common.plain(r) for r in pd.read_parquet(converted[dataset]).to_dict(orient="records")):
        info, gt = row["extra_info"], row["reward_model"]["ground_truth"]
        good = "```python\n" + solutions[info["source_id"]] + "```"
        assert compute_score(row["data_source"], good, gt, info)["score"] == 1.0, info["source_id"]
        assert compute_score(row["data_source"], "```python\nprint('wrong')\n```", gt, info)["score"] == 0.0


def test_parquet_source_and_limit_and_exclude(tmp_path, capsys):
    # the HF repos ship parquet with nested columns: read CodeContests from parquet
    rows = dp_common.read_local(os.path.join(FIXTURES, "code_contests.jsonl"))
    src = tmp_path / "cc.parquet"
    pd.DataFrame(rows).to_parquet(src)
    out = tmp_path / "out.parquet"
    assert prepare_code.main(
        ["--dataset", "codecontests", "--input", str(src), "--output", str(out), "--limit", "1", "--seed", "3"]) == 0
    assert len(pd.read_parquet(out)) == 1
    # decontamination: polaris rows whose question appears in another file are dropped
    first = tmp_path / "first.parquet"
    prepare_math.main(["--dataset", "polaris", "--input", os.path.join(FIXTURES, "polaris.jsonl"), "--output",
                       str(first), "--limit", "1"])
    second = tmp_path / "second.parquet"
    capsys.readouterr()
    prepare_math.main(["--dataset", "polaris", "--input", os.path.join(FIXTURES, "polaris.jsonl"), "--output",
                       str(second), "--exclude", str(first)])
    assert "dropped 1 (question in --exclude file)" in capsys.readouterr().err
    assert len(pd.read_parquet(second)) == 2


def test_offline_hf_load_fails_with_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(dp_common.DataPrepError, match="--input"):
        dp_common.load_hf("POLARIS-Project/Polaris-Dataset-53K", split="train")


def test_bad_local_input_message(tmp_path):
    with pytest.raises(dp_common.DataPrepError, match="does not exist"):
        dp_common.read_local(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n")
    with pytest.raises(dp_common.DataPrepError, match="unsupported extension"):
        dp_common.read_local(str(bad))


def test_mix_ratio_seed_and_holdout(converted, tmp_path, tokenizer):
    math_rows = [dp_common.plain(r) for r in pd.read_parquet(converted["polaris"]).to_dict(orient="records")]
    code_paths = [converted["apps"], converted["codecontests"], converted["livecodebench_v6"]]
    code_rows = [dp_common.plain(r) for p in code_paths for r in pd.read_parquet(p).to_dict(orient="records")]
    out = mix.mix_rows(math_rows, code_rows, code_ratio=0.7, total=0, seed=0)
    # 6 code rows allow 8 total at 70% (round(8*0.7)=6 code, 2 math)
    assert len(out) == 8 and sum(r["ability"] == "code" for r in out) == 6
    again = mix.mix_rows(math_rows, code_rows, code_ratio=0.7, total=0, seed=0)
    assert [r["extra_info"]["question"] for r in out] == [r["extra_info"]["question"] for r in again]
    assert [r["extra_info"]["index"] for r in out] == list(range(8))
    with pytest.raises(dp_common.DataPrepError, match="Lower --total"):
        mix.mix_rows(math_rows, code_rows, code_ratio=0.7, total=100, seed=0)
    train, val = mix.split_holdout(out, 2, seed=0)
    assert len(train) == 6 and len(val) == 2
    assert not {r["extra_info"]["question"] for r in train} & {r["extra_info"]["question"] for r in val}
    assert {r["extra_info"]["split"] for r in val} == {"val"}
    # the CLI writes both files and verl reads the mixed schema (math + code extra_info in one file)
    train_p, val_p = tmp_path / "train.parquet", tmp_path / "val.parquet"
    assert mix.main(["--math", converted["polaris"], "--code", *code_paths, "--output", str(train_p), "--val-output",
                     str(val_p), "--val-size", "2"]) == 0
    assert len(pd.read_parquet(train_p)) == 6 and len(pd.read_parquet(val_p)) == 2
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    ds = RLHFDataset(data_files=[str(train_p)], tokenizer=tokenizer,
                     config=OmegaConf.create({"max_prompt_length": 8192}))
    assert len(ds) == 6 and {ds[i]["ability"] for i in range(6)} == {"math", "code"}
