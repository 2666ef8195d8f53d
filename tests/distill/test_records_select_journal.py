"""Pure pieces: sample validation, the designer answer shape, ShareGPT I/O, selection, the journal."""

from __future__ import annotations

import json
import os

import pytest

from verl_metaagent.distill.export import ExportConfig, export, read_sft_parquet, write_sft_parquet
from verl_metaagent.distill.journal import Journal, JournalError, read_journal
from verl_metaagent.distill.records import (SampleError, SFTSample, format_designer_answer, split_designer_answer,
                                            validate_messages)
from verl_metaagent.distill.select import agent_chats, balance, cap_per_problem, dedupe, select
from verl_metaagent.distill.sharegpt import ShareGPTError, read_sharegpt, sample_to_record, write_sharegpt

DESIGN = ("from verl_metaagent.design.api import *\nsolver = Agent('Solver', 'Solve; \\\\boxed{}.')\n"
          "finish(extract_answer(solver.ask()))\n")
RELEASE_SYSTEM = "You are an expert Python developer specializing in multi-agent workflow systems."


def designer(sid, pattern="single", problem="p", reward=1.0, code=DESIGN, think="math; one solver"):
    return SFTSample(id=sid, role="designer", problem_id=problem, pattern=pattern, reward=reward,
                     messages=[{"role": "user", "content": f"Design Multi Agent System for the Question: {problem}?"},
                               {"role": "assistant", "content": format_designer_answer(think, code)}])


def executor(sid, text, problem="p", pattern="single", reward=1.0):
    return SFTSample(id=sid, role="executor", problem_id=problem, pattern=pattern, reward=reward,
                     messages=[{"role": "system", "content": "Solve."}, {"role": "user", "content": "q"},
                               {"role": "assistant", "content": text}])


# --------------------------------------------------------------------------------------------- records


@pytest.mark.parametrize("messages,match", [
    ([], "non-empty list"),
    ([{"role": "user", "content": "q"}], "last message must be the assistant"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}], "last assistant reply is empty"),
    ([{"role": "user", "content": "q"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}],
     "only the first message"),
    ([{"role": "assistant", "content": "a"}], "before any user message"),
    ([{"role": "tool", "content": "x"}, {"role": "assistant", "content": "a"}], "role 'tool'"),
    ([{"role": "user", "content": 3}, {"role": "assistant", "content": "a"}], "content is int"),
    ("hello", "non-empty list"),
])
def test_validate_messages_names_the_rule(messages, match):
    with pytest.raises(SampleError, match=match):
        validate_messages(messages, "row 7")


def test_sample_round_trip_and_bad_fields():
    s = executor("executor_x", "\\boxed{5}")
    assert SFTSample.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(SampleError, match="role must be one of"):
        SFTSample(id="a", role="critic", messages=s.messages)
    with pytest.raises(SampleError, match="missing field\\(s\\) role, messages"):
        SFTSample.from_dict({"id": "a"})
    with pytest.raises(SampleError, match="reward must be a number"):
        SFTSample(id="a", role="executor", messages=s.messages, reward="high")


def test_designer_answer_shape_round_trips():
    text = format_designer_answer("problem type: math\nworkflow pattern: single", DESIGN)
    assert text.startswith(
        "<think>\nproblem type: math\nworkflow pattern: single\n</think>\n<code>\n```python\nfrom verl_metaagent")
    assert text.endswith("finish(extract_answer(solver.ask()))\n```\n</code>")
    think, code, error = split_designer_answer(text)
    assert (think, code, error) == ("problem type: math\nworkflow pattern: single", DESIGN, None)
    assert split_designer_answer("no code here at all")[1] is None
    assert split_designer_answer(None)[2] == "designer answer is NoneType, expected a string"


# --------------------------------------------------------------------------------------------- ShareGPT


def test_release_records_read_validate_and_write_back(tmp_path):
    release_answer = format_designer_answer("Problem Type: MATH",
                                            DESIGN.replace("verl_metaagent.design.api", "verl_metaagent.design.api"))
    workflow_design = ("<think>\nensemble</think>\n<code>\n```python\nfrom workflow import AgentNode, Workflow\n"
                       "w = Workflow(name='x')\nw.add_node(AgentNode(name='A', system_prompt='solve'))\n"
                       "print(w.run(question).content)\n```\n</code>")
    # the release's own `import os` is fine in the workflow dialect (a stand-in); a real escape is not
    os_design = ("<think>x</think><code>\n```python\nimport subprocess\nfrom workflow import Workflow\n"
                 "w = Workflow(name='x')\nprint(w.run(question))\n```\n</code>")
    lines = [
        {"id": "designer_1", "conversations": [
            {"from": "system", "value": RELEASE_SYSTEM},
            {"from": "user", "value": "Design Multi Agent System for the Question: 2+3?"},
            {"from": "assistant", "value": release_answer}]},
        {"id": "designer_2", "conversations": [
            {"from": "system", "value": RELEASE_SYSTEM},
            {"from": "human", "value": "Design Multi Agent System for the Question: 1+1?"},
            {"from": "gpt", "value": workflow_design}]},
        {"id": "designer_3", "conversations": [
            {"from": "user", "value": "Design Multi Agent System for the Question: 4?"},
            {"from": "assistant", "value": os_design}]},
        {"id": "executor_9", "conversations": [
            {"role": "system", "content": "Solve."}, {"role": "user", "content": "2+3?"},
            {"role": "assistant", "content": "\\boxed{5}"}]},
        {"id": "x", "conversations": [{"from": "user", "value": "hi"}]},
        {"conversations": [{"from": "user", "value": "hi"}, {"from": "assistant", "value": "hello"}]},
        {"id": "y"},
    ]
    path = tmp_path / "release.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    samples, report = read_sharegpt(str(path))
    assert report.read == 7 and dict(report.kept) == {"designer": 2, "executor": 2}
    assert dict(report.skipped) == {"invalid design": 1, "malformed chat": 1, "no conversations": 1}
    assert (report.examples["invalid design"].startswith("release.jsonl:3: invalid design:")
            and "subprocess" in report.examples["invalid design"])
    by_id = {s.id: s for s in samples}
    assert sorted(by_id)[:3] == ["designer_1", "designer_2", "executor_9"] and len(by_id) == 4
    assert sorted(by_id)[3].startswith("executor_sharegpt_")  # no id in the record: a content hash
    d1 = by_id["designer_1"]
    assert [m["role"] for m in d1.messages] == ["user", "assistant"]  # the release's system line is dropped by default
    assert d1.pattern == "single" and by_id["designer_2"].pattern == "single"
    assert by_id["executor_9"].messages[-1] == {"role": "assistant", "content": "\\boxed{5}"}
    # keep_system keeps it
    kept, _ = read_sharegpt(str(path), keep_system=True)
    assert [m["role"] for m in kept[0].messages] == ["system", "user", "assistant"]
    # write back in the release's shape: [system, user, assistant]
    out = tmp_path / "back.jsonl"
    assert write_sharegpt([d1], str(out), system_prompt=RELEASE_SYSTEM) == 1
    record = json.loads(out.read_text())
    assert record == {"id": "designer_1", "conversations": [
        {"from": "system", "value": RELEASE_SYSTEM}, {"from": "user", "value": d1.messages[0]["content"]},
        {"from": "assistant", "value": d1.messages[1]["content"]}]}
    again, _ = read_sharegpt(str(out))
    assert again[0].messages == d1.messages and again[0].id == d1.id
    assert sample_to_record(by_id["executor_9"])["conversations"][0] == {"from": "system", "value": "Solve."}


def test_unreadable_sharegpt_files_name_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "conversations": []}\n{not json\n')
    with pytest.raises(ShareGPTError, match="bad.jsonl:2: not a JSON object"):
        read_sharegpt(str(bad))
    notlist = tmp_path / "bad.json"
    notlist.write_text('{"id": "a"}')
    with pytest.raises(ShareGPTError, match="must hold a list of records"):
        read_sharegpt(str(notlist))
    with pytest.raises(FileNotFoundError):
        read_sharegpt(str(tmp_path / "none.jsonl"))


# --------------------------------------------------------------------------------------------- selection


def test_dedupe_by_id_and_content():
    a = executor("executor_a", "x = 1")
    b = executor("executor_b", "x   =  1")  # same content up to whitespace
    c = executor("executor_a", "different")  # same id
    d = designer("designer_1", think="one way")
    e = designer("designer_2", think="another way",
                 code=DESIGN.replace("finish(", "# a comment\nfinish("))  # same design
    kept, dropped = dedupe([a, b, c, d, e])
    assert [s.id for s in kept] == ["executor_a", "designer_1"] and dropped == 3


def test_cap_per_problem_keeps_best_rewards():
    samples = [designer(f"designer_{i}", problem="p", reward=r, think=str(i)) for i, r in enumerate([0.5, 1.0, 0.75])]
    samples.append(designer("designer_q", problem="q", think="q"))
    assert [s.id for s in cap_per_problem(samples, 2)] == ["designer_1", "designer_2", "designer_q"]
    assert len(cap_per_problem(samples, 0)) == 4


def test_balance_spreads_over_patterns():
    pool = [designer(f"designer_e{i}", pattern="ensemble", problem=f"e{i}", think=str(i)) for i in range(10)]
    pool += [designer(f"designer_s{i}", pattern="single", problem=f"s{i}", think=str(i)) for i in range(2)]
    pool += [designer(f"designer_r{i}", pattern="reflection", problem=f"r{i}", think=str(i)) for i in range(5)]
    picked = balance(pool, 9, seed=0)
    counts = {p: sum(s.pattern == p for s in picked) for p in ("ensemble", "single", "reflection")}
    # equal shares of 3; "single" has only 2, its leftover goes to the first larger group (sorted by name)
    assert counts == {"ensemble": 4, "single": 2, "reflection": 3}
    # order-independent
    assert [s.id for s in balance(pool, 9, seed=0)] == [s.id for s in balance(list(reversed(pool)), 9, seed=0)]
    assert balance(pool, 6, seed=0) != balance(pool, 6, seed=1)
    assert {s.pattern for s in balance(pool, 3, seed=5)} == {"ensemble", "single", "reflection"}
    assert len(balance(pool, 0)) == len(pool) == len(balance(pool, 100))


def test_select_counts():
    pool = [designer("designer_1", problem="a"),
            designer("designer_2", problem="a", think="2", code=DESIGN + "# v2\nx = 1\n"),
            designer("designer_3", problem="a", think="3", code=DESIGN + "y = 2\n"),
            designer("designer_4", problem="b", think="1"), executor("executor_1", "5")]
    picked, counts = select(pool, role="designer", target=2, per_problem=2)
    assert dict(counts) == {"candidates": 4, "duplicates": 0, "over_problem_cap": 1, "over_target": 1, "kept": 2}
    assert len(picked) == 2


def test_agent_chats_fold_multi_turn_and_strip_thinking():
    class Call:
        def __init__(self, agent, messages):
            self.agent, self.messages = agent, messages

    s, u1, a1 = ({"role": "system", "content": "S"}, {"role": "user", "content": "q"},
                 {"role": "assistant", "content": "<think>hm</think>first"})
    calls = [
        Call("A", [s, u1, a1]),
        Call("B", [s, u1, {"role": "assistant", "content": "b"}]),
        Call("A", [s, u1, {"role": "assistant", "content": "first"}, {"role": "user", "content": "again"},
                   {"role": "assistant", "content": "second"}]),
        Call("A", [s, {"role": "user", "content": "fresh"}, {"role": "assistant", "content": "third"}]),
    ]
    chats = agent_chats(calls)
    assert [(agent, [m["content"] for m in msgs]) for agent, msgs in chats] == [
        ("A", ["S", "q", "first", "again", "second"]),
        ("B", ["S", "q", "b"]),
        ("A", ["S", "fresh", "third"]),
    ]
    kept = agent_chats(calls[:1], strip_thinking=False)
    assert kept[0][1][-1]["content"] == "<think>hm</think>first"


# --------------------------------------------------------------------------------------------- journal


def test_journal_torn_tail_is_dropped_and_middle_corruption_is_reported(tmp_path):
    path = str(tmp_path / "journal.jsonl")
    with Journal(path, {"x": 1}) as j:
        j.append(
            {"kind": "problem", "problem_id": "p1", "designer": [designer("designer_p1").to_dict()], "executor": []})
        j.append({"kind": "error", "problem_id": "p2", "attempt": 1, "error": "boom"})
    with open(path, "ab") as f:  # a kill in the middle of a write
        f.write(b'{"kind":"problem","problem_id":"p3","desig')
    state = read_journal(path)
    assert list(state.done) == ["p1"] and state.errors["p2"] == 1 and state.torn_tail > 0
    with Journal(path) as j:  # opening repairs the tail, appends after it
        assert j.state.header["config"] == {"x": 1} and list(j.state.done) == ["p1"]
        j.append({"kind": "problem", "problem_id": "p3", "designer": [], "executor": []})
    state = read_journal(path)
    assert list(state.done) == ["p1", "p3"] and state.torn_tail == 0
    assert [s["id"] for s in state.samples("designer")] == ["designer_p1"]
    lines = open(path).read().splitlines()
    lines.insert(2, "garbage")
    open(path, "w").write("\n".join(lines) + "\n")
    with pytest.raises(JournalError, match="journal.jsonl:3: corrupt line"):
        read_journal(path)


def test_journal_version_mismatch(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"kind": "header", "version": 99}) + "\n")
    with pytest.raises(JournalError, match="version 99"):
        read_journal(str(path))


# --------------------------------------------------------------------------------------------- export


def test_export_merges_imports_and_parquet_round_trips(tmp_path):
    out = str(tmp_path / "out")
    extra = [designer("designer_a", problem="a"),
             designer("designer_a2", problem="a", think="same design, other words"),
             executor("executor_1", "\\boxed{1}", problem="a"), executor("executor_2", "\\boxed{2}", problem="b")]
    report = export(out, ExportConfig(target_designer=0, target_executor=1, sharegpt=True), extra=extra)
    assert report.designer["kept"] == 1 and report.designer["duplicates"] == 1
    assert report.executor["kept"] == 1 and report.executor["over_target"] == 1
    back = read_sft_parquet(report.files["designer"])
    assert back == [extra[0]]
    assert os.path.exists(report.files["designer_sharegpt"])
    # any verl multi-turn parquet reads too (no metadata columns)
    import pandas as pd

    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"messages": [[{"role": "user", "content": "Design Multi Agent System for the Question: z"},
                                {"role": "assistant", "content": "a"}]]}).to_parquet(plain)
    got = read_sft_parquet(str(plain))
    assert got[0].id == "plain.parquet:0" and got[0].role == "designer"
    assert write_sft_parquet([], str(tmp_path / "empty.parquet")) == 0


def test_cli_export_imports_release_records(tmp_path, capsys):
    from verl_metaagent.distill.cli import main

    release = tmp_path / "release.jsonl"
    release.write_text("\n".join(json.dumps(r) for r in [
        {"id": "designer_a", "conversations": [
            {"from": "system", "value": RELEASE_SYSTEM},
            {"from": "user", "value": "Design Multi Agent System for the Question: 1+1?"},
            {"from": "assistant", "value": format_designer_answer("math", DESIGN)}]},
        {"id": "designer_b", "conversations": [
            {"from": "user", "value": "Design Multi Agent System for the Question: 2+2?"},
            {"from": "assistant",
             "value": "<think>x</think><code>\n```python\nimport os\nfinish(os.name)\n```\n</code>"}]},
        {"id": "executor_c", "conversations": [{"from": "user", "value": "1+1?"},
                                               {"from": "assistant", "value": "\\boxed{2}"}]},
    ]) + "\n")
    out = tmp_path / "out"
    assert main(["export", "--out", str(out), "--add", str(release), "--target-designer", "0", "--target-executor", "0",
                 "--sharegpt"]) == 0
    err = capsys.readouterr().err
    assert ("release.jsonl: read 3, kept designer 1 executor 1, skipped 1 "
            "(invalid design; e.g. release.jsonl:2: invalid design:" in err)
    assert "designer: 1 kept of 1 candidates" in err
    designer = read_sft_parquet(str(out / "designer.parquet"))
    assert [(s.id, s.role, s.pattern, s.source) for s in designer] == [
        ("designer_a", "designer", "single", "sharegpt:release.jsonl")]
    assert designer[0].messages[0] == {"role": "user", "content": "Design Multi Agent System for the Question: 1+1?"}
    assert (json.loads((out / "executor.jsonl").read_text())["conversations"][-1]
            == {"from": "assistant", "value": "\\boxed{2}"})
    assert main(["export", "--out", str(out), "--add", str(tmp_path / "x.csv")]) == 2
    assert "--add" in capsys.readouterr().err


def test_truncated_answers_are_not_distilled():
    from verl_metaagent.distill.select import SelectionConfig, candidates_from_tree
    from verl_metaagent.rollout.tree import CallTokens
    from verl_metaagent.rollout.tree_runner import DesignNode, ExecutionNode, ProblemSpec, ProblemTree

    code = "from verl_metaagent.design.api import *\nfinish(Agent('S', 'solve').ask())\n"
    text = "<think>math; one solver</think><code>\n```python\n" + code + "```\n</code>"

    def execution(k, stop):
        chat = [{"role": "system", "content": "solve"}, {"role": "user", "content": "1+1"},
                {"role": "assistant", "content": "\\boxed{2}"}]
        call = CallTokens("S", [], [], messages=chat, stop_reason=stop)
        return ExecutionNode(k=k, exec_uid=f"e{k}", status="finished", reason="", final_answer="2", reward=1.0,
                             calls=[call])

    def design(j, stop, exec_stops):
        return DesignNode(j=j, design_uid=f"d{j}", prompt_ids=[], response_ids=[], logprobs=None, text=text, code=code,
                          valid=True, invalid_reason="", pattern="single",
                          executions=[execution(k, s) for k, s in enumerate(exec_stops)],
                          stop_reason=stop)

    problem = ProblemSpec(uid="p", problem_index=0, question="1+1", task_type="math", data_source="math/x",
                          ground_truth="2")
    tree = ProblemTree(problem=problem,
                       designs=[design(0, "completed", ["completed", "length"]), design(1, "length", ["completed"])])
    out = candidates_from_tree(tree, problem_id="p", short_prompt=[{"role": "user", "content": "1+1"}],
                               config=SelectionConfig(require_think=False))
    assert [s.id for s in out.designer] == ["designer_p_d0"]
    assert [s.id for s in out.executor] == ["executor_p_d0e0_0", "executor_p_d1e0_0"]
    assert (out.rejected["designer: answer cut at max_tokens"] == 1
            and out.rejected["executor: a reply was cut at max_tokens"] == 1)
