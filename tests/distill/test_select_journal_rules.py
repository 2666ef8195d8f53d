"""The distill journal's folding rules and the selection of samples from graded trees, on hand-made inputs."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from verl_metaagent.distill.journal import JOURNAL_VERSION, Journal, JournalError, JournalState, read_journal
from verl_metaagent.distill.records import SFTSample, format_designer_answer
from verl_metaagent.distill.select import (
    SelectionConfig,
    agent_chats,
    balance,
    cap_per_problem,
    candidates_from_tree,
    dedupe,
    select,
)
from verl_metaagent.rollout.tree import CallTokens
from verl_metaagent.rollout.tree_runner import DesignNode, ExecutionNode, ProblemSpec, ProblemTree

CODE = "from verl_metaagent.design.api import *\nfinish(Agent('S', 'solve').ask())\n"
SHORT = [{"role": "user", "content": "short prompt"}]


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


HEADER = {"kind": "header", "version": JOURNAL_VERSION, "config": {}}


# ------------------------------------------------------------------------------------------------ journal


def test_a_duplicate_problem_record_keeps_the_first(tmp_path):
    path = tmp_path / "journal.jsonl"
    write_lines(path, [HEADER, {"kind": "problem", "problem_id": "p", "designer": [{"id": "first"}]},
                       {"kind": "problem", "problem_id": "p", "designer": [{"id": "second"}]}])
    state = read_journal(str(path))
    assert [s["id"] for s in state.samples()] == ["first"] and state.duplicate_done == 1
    with Journal(str(path)) as j:
        j.append({"kind": "problem", "problem_id": "p", "designer": [{"id": "third"}]})
        assert [s["id"] for s in j.state.samples()] == ["first"] and j.state.duplicate_done == 2


def test_records_fold_into_state(tmp_path):
    path = tmp_path / "journal.jsonl"
    write_lines(path, [
        HEADER,
        {"kind": "header", "version": 99},  # a later header line is ignored
        {"kind": "problem", "problem_id": "a", "designer": [{"id": "d1"}], "executor": [{"id": "e1"}, {"id": "e2"}],
         "usage": {"calls": 2, "cost": 0.5, "model": "x"}, "rejected": {"designer: invalid design": 1}},
        {"kind": "error", "problem_id": "b", "error": "boom"},
        {"kind": "error", "problem_id": "b", "error": "boom"},
        {"kind": "run", "started": 1},
        {"kind": "problem", "problem_id": "c", "designer": [], "executor": [{"id": "e3"}],
         "usage": {"calls": 3}, "rejected": {"designer: invalid design": 2, "executor: incorrect": 1}},
    ])
    state = read_journal(str(path))
    assert state.header == HEADER and list(state.done) == ["a", "c"] and state.errors == Counter(b=2)
    assert state.runs == [{"kind": "run", "started": 1}] and (state.torn_tail, state.duplicate_done) == (0, 0)
    assert [s["id"] for s in state.samples()] == ["d1", "e1", "e2", "e3"]
    assert [s["id"] for s in state.samples("executor")] == ["e1", "e2", "e3"]
    assert [s["id"] for s in state.samples("designer")] == ["d1"]
    assert state.usage() == {"calls": 5, "cost": 0.5}
    assert state.rejected() == Counter({"designer: invalid design": 3, "executor: incorrect": 1})
    assert JournalState().usage() == {} and JournalState().rejected() == Counter()


@pytest.mark.parametrize("record, message", [
    ([1, 2], "journal.jsonl:2: not a journal record"),
    ({"problem_id": "x"}, "journal.jsonl:2: not a journal record"),
    ({"kind": "problem"}, "journal.jsonl:2: problem record without a problem_id"),
    ({"kind": "problem", "problem_id": 3}, "journal.jsonl:2: problem record without a problem_id"),
    ({"kind": "note"}, "journal.jsonl:2: unknown record kind 'note'"),
])
def test_bad_records_name_the_line(tmp_path, record, message):
    path = tmp_path / "journal.jsonl"
    write_lines(path, [HEADER, record])
    with pytest.raises(JournalError) as err:
        read_journal(str(path))
    assert str(err.value).startswith(str(tmp_path / message.split(":")[0]) + ":" + message.split(":", 1)[1])


def test_a_complete_last_record_without_newline_counts(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps(HEADER) + "\n\n" + json.dumps({"kind": "problem", "problem_id": "p"}))
    state = read_journal(str(path))
    assert list(state.done) == ["p"] and state.torn_tail == 0


def test_the_version_is_checked_and_named(tmp_path):
    path = tmp_path / "journal.jsonl"
    write_lines(path, [{"kind": "header", "version": JOURNAL_VERSION + 1}])
    with pytest.raises(JournalError) as err:
        read_journal(str(path))
    expected = f"journal version {JOURNAL_VERSION + 1}, this code reads version {JOURNAL_VERSION}; start a new --out"
    assert expected in str(err.value)


def test_journal_writes_a_header_once_and_refuses_headless_files(tmp_path):
    path = tmp_path / "sub" / "journal.jsonl"
    with Journal(str(path), {"teacher": "t"}) as j:
        assert j.state.header == {"config": {"teacher": "t"}}
        j.append({"kind": "run", "n": 1})
        assert j.state.runs == [{"kind": "run", "n": 1}]
    with Journal(str(path), {"teacher": "other"}) as j:
        assert j.state.header["config"] == {"teacher": "t"} and j.state.header["version"] == JOURNAL_VERSION
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["kind"] for r in lines] == ["header", "run"] and lines[0]["config"] == {"teacher": "t"}
    headless = tmp_path / "headless.jsonl"
    write_lines(headless, [{"kind": "run"}])
    with pytest.raises(JournalError, match="has records but no header line"):
        Journal(str(headless)).open()


def test_journal_lock_and_closed_journal(tmp_path):
    path = str(tmp_path / "journal.jsonl")
    with Journal(path):
        with pytest.raises(JournalError, match="is locked by another distill run"):
            Journal(path).open()
    j = Journal(path)
    with pytest.raises(JournalError, match="journal is not open"):
        j.append({"kind": "run"})
    j.open()
    j.close()
    j.close()  # idempotent
    with Journal(path):  # the lock was released
        pass


def test_opening_truncates_a_torn_tail(tmp_path):
    path = tmp_path / "journal.jsonl"
    write_lines(path, [HEADER])
    with open(path, "ab") as f:
        f.write(b'{"kind": "prob')
    with Journal(str(path)):
        pass
    assert path.read_text() == json.dumps(HEADER) + "\n"


# ------------------------------------------------------------------------------------------------ selection


def sample(sid, role="designer", problem="p", pattern="single", reward=1.0, text=None):
    return SFTSample(id=sid, role=role, problem_id=problem, pattern=pattern, reward=reward,
                     messages=[{"role": "user", "content": f"q {problem}"},
                               {"role": "assistant",
                                "content": text or format_designer_answer(sid, CODE + f"x = '{sid}'\n")}])


def test_dedupe_updates_the_seen_set_and_counts():
    seen = {"old"}
    kept, dropped = dedupe([sample("old"), sample("a"), sample("a"), sample("b")], seen)
    assert [s.id for s in kept] == ["a", "b"] and dropped == 2
    assert {"a", "b", sample("a").key, sample("b").key} <= seen
    kept, dropped = dedupe([sample("c", text="same"), sample("d", text="same")])
    assert [s.id for s in kept] == ["c"] and dropped == 1


def test_cap_per_problem_ties_break_by_id_and_roles_are_separate():
    samples = [sample("b", reward=1.0), sample("a", reward=1.0), sample("c", reward=0.5),
               sample("x", role="executor", text="\\boxed{1}"), sample("y", role="executor", text="\\boxed{2}")]
    assert [s.id for s in cap_per_problem(samples, 1)] == ["a", "x"]
    no_problem = [sample("n1", problem=""), sample("n2", problem="")]  # a sample without a problem is its own group
    assert [s.id for s in cap_per_problem(no_problem, 1)] == ["n1", "n2"]
    assert cap_per_problem(samples, -1) == samples


def test_balance_water_fills():
    pool = [sample(f"e{i}", pattern="ensemble") for i in range(6)] + [sample("s0", pattern="single")]
    pool += [sample(f"r{i}", pattern="reflection") for i in range(3)] + [sample("u0", pattern="")]
    picked = balance(pool, 8, seed=3)
    counts = Counter(s.pattern or "unknown" for s in picked)
    assert counts == {"ensemble": 3, "reflection": 3, "single": 1, "unknown": 1}  # shares of 2, small groups give all
    assert [s.id for s in picked] == sorted(s.id for s in picked)
    assert len(balance(pool, 1, seed=0)) == 1 and len(balance(pool, 9, seed=0)) == 9
    assert [s.id for s in balance(pool, len(pool))] == sorted(s.id for s in pool)
    by_letter = [s.id for s in balance(pool, 3, key=lambda s: s.id[0])]
    assert len(by_letter) == 3 and len({i[0] for i in by_letter}) == 3  # one per first letter


def test_select_pipeline_counts():
    pool = [sample("a", problem="p"), sample("b", problem="p"), sample("c", problem="p"), sample("a", problem="q"),
            sample("d", problem="q", pattern="ensemble"), sample("x", role="executor", text="\\boxed{1}")]
    picked, counts = select(pool, role="designer", target=2, per_problem=2, seed=1)
    assert counts == Counter(candidates=5, duplicates=1, over_problem_cap=1, over_target=1, kept=2)
    assert {s.pattern for s in picked} == {"single", "ensemble"}
    picked, counts = select(pool, role="executor", target=0)
    assert [s.id for s in picked] == ["x"] and counts["kept"] == 1 and counts["over_target"] == 0


def test_agent_chats_skip_empty_calls_and_keep_history_only_when_it_extends():
    class Call:
        def __init__(self, agent, messages):
            self.agent, self.messages = agent, messages

    u = {"role": "user", "content": "q"}
    a = {"role": "assistant", "content": "<think>x</think>a"}
    # [u] does not extend [u, a]: a chat of its own; the next [u, a] extends the latest chat it continues
    chats = agent_chats([Call("A", None), Call("A", [u, a]), Call("A", [u]), Call("A", [u, a]), Call("B", [u, a])])
    assert [(agent, [m["content"] for m in m_]) for agent, m_ in chats] == [("A", ["q", "a"]), ("A", ["q", "a"]),
                                                                             ("B", ["q", "a"])]
    user_last = agent_chats([Call("A", [{"role": "user", "content": "<think>keep</think>q"}])])
    assert user_last[0][1][0]["content"] == "<think>keep</think>q"


def test_selection_config_validation():
    assert SelectionConfig().validate() == SelectionConfig(0.5, 1.0, True, True, "short")
    for kwargs, message in (({"min_design_reward": 1.5}, "--min-design-reward must be in [0, 1], got 1.5"),
                            ({"min_design_reward": -0.1}, "--min-design-reward must be in [0, 1], got -0.1"),
                            ({"min_execution_reward": 2.0}, "--min-execution-reward must be in [0, 1], got 2.0"),
                            ({"designer_prompt": "long"},
                             "--designer-prompt must be 'short' or 'teacher', got 'long'")):
        with pytest.raises(ValueError) as err:
            SelectionConfig(**kwargs).validate()
        assert str(err.value) == message
    assert SelectionConfig(min_design_reward=0.0, min_execution_reward=1.0, designer_prompt="teacher").validate()


# ------------------------------------------------------------------------------------------------ trees


def call(agent, reply, stop=None):
    chat = [{"role": "system", "content": "solve"}, {"role": "user", "content": "1+1"},
            {"role": "assistant", "content": reply}]
    return CallTokens(agent, [], [], messages=chat, stop_reason=stop)


def execution(k, reward, calls, status="finished"):
    return ExecutionNode(k=k, exec_uid=f"e{k}", status=status, reason="", final_answer="2", reward=reward, calls=calls)


def design(j, executions, valid=True, think="analysis", pattern="single", messages=None):
    text = format_designer_answer(think, CODE) if valid else "no code here"
    return DesignNode(j=j, design_uid=f"d{j}", prompt_ids=[], response_ids=[], logprobs=None, text=text,
                      code=CODE if valid else None, valid=valid, invalid_reason="", pattern=pattern,
                      executions=executions, messages=messages)


def tree(*designs):
    problem = ProblemSpec(uid="p", problem_index=0, question="1+1", task_type="math", data_source="math/x",
                          ground_truth="2")
    return ProblemTree(problem=problem, designs=list(designs))


def test_candidates_from_a_tree_with_every_kind_of_rejection():
    t = tree(
        design(0, [execution(0, 1.0, [call("S", "<think>t</think>\\boxed{2}"), call("C", "ok")]),
                   execution(1, 0.0, [call("S", "\\boxed{3}")])], pattern="reflection"),  # mean 0.5: kept
        design(1, [execution(0, 0.25, [call("S", "x")])]),  # mean below 0.5
        design(2, [], valid=False),
        design(3, []),  # valid, never executed
        design(4, [execution(0, 1.0, [call("S", "y")], status="timeout")], think=""),  # no <think>
    )
    out = candidates_from_tree(t, problem_id="p7", short_prompt=SHORT, config=SelectionConfig(), source="teacher")
    assert [s.id for s in out.designer] == ["designer_p7_d0"]
    d = out.designer[0]
    assert (d.role, d.problem_id, d.data_source, d.task_type, d.pattern, d.reward, d.source) == (
        "designer", "p7", "math/x", "math", "reflection", 0.5, "teacher")
    assert d.messages[:-1] == SHORT and d.messages[-1] == {"role": "assistant",
                                                           "content": format_designer_answer("analysis", CODE)}
    assert [(s.id, s.agent, s.reward, s.messages[-1]["content"]) for s in out.executor] == [
        ("executor_p7_d0e0_0", "S", 1.0, "\\boxed{2}"), ("executor_p7_d0e0_1", "C", 1.0, "ok")]
    assert out.rejected == Counter({
        "designer: mean reward below threshold": 1, "designer: invalid design": 1, "designer: not executed": 1,
        "designer: no <think> analysis": 1,
        "executor: execution incorrect": 2, "executor: execution timeout": 1,
    })
    assert out.stats == Counter(designs=5, executions=4, correct_executions=1)


def test_candidate_thresholds_and_prompt_choice():
    t = tree(design(0, [execution(0, 1.0, [call("S", "a")]), execution(1, 0.0, [call("S", "b")])],
                    messages=[{"role": "user", "content": "teacher prompt"}]))
    strict = candidates_from_tree(t, problem_id="p", short_prompt=SHORT, config=SelectionConfig(min_design_reward=0.75))
    assert strict.designer == [] and strict.rejected["designer: mean reward below threshold"] == 1
    teacher = candidates_from_tree(t, problem_id="p", short_prompt=SHORT,
                                   config=SelectionConfig(designer_prompt="teacher", min_execution_reward=0.0))
    assert teacher.designer[0].messages[0] == {"role": "user", "content": "teacher prompt"}
    assert [s.id for s in teacher.executor] == ["executor_p_d0e0_0", "executor_p_d0e1_0"]
    keep_think = candidates_from_tree(tree(design(0, [execution(0, 1.0, [call("S", "<think>t</think>a")])], think="")),
                                      problem_id="p", short_prompt=SHORT,
                                      config=SelectionConfig(require_think=False, strip_executor_thinking=False))
    assert keep_think.executor[0].messages[-1]["content"] == "<think>t</think>a"
    assert keep_think.designer[0].id == "designer_p_d0"


# ------------------------------------------------------------------------------------------------ more rules


def test_blank_lines_are_skipped_and_a_bad_complete_tail_is_named(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps(HEADER) + "\n\n" + json.dumps({"kind": "problem", "problem_id": "a"}) + "\n")
    assert list(read_journal(str(path)).done) == ["a"]
    path.write_text(json.dumps(HEADER) + "\n" + json.dumps({"kind": "note"}))  # complete, but no newline
    with pytest.raises(JournalError) as err:
        read_journal(str(path))
    assert str(err.value) == f"{path}:2: unknown record kind 'note'"


def test_journal_lines_are_compact_utf8_and_the_file_is_private_to_its_owner(tmp_path):
    import os
    import stat

    path = tmp_path / "journal.jsonl"
    j = Journal(str(path), {"who": "é"})
    assert j.state == JournalState()
    with j:
        j.append({"kind": "run", "note": "naïve"})
        with pytest.raises(JournalError) as err:
            j.append({"kind": "bogus"})
        assert str(err.value) == f"{path}: unknown record kind 'bogus'"
    lines = path.read_bytes().decode("utf-8").splitlines()
    assert lines[1] == '{"kind":"run","note":"naïve"}'
    header = json.loads(lines[0])
    assert isinstance(header["created"], float) and header["config"] == {"who": "é"}
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644 & ~umask
    with pytest.raises(JournalError) as err:
        Journal(str(path)).append({"kind": "run"})
    assert str(err.value) == "journal is not open"


def test_selection_config_bounds_are_inclusive():
    for kwargs in ({"min_design_reward": 1.0}, {"min_design_reward": 0.0}, {"min_execution_reward": 0.0},
                   {"min_execution_reward": 0.5}):
        assert SelectionConfig(**kwargs).validate()


def test_identical_calls_stay_two_chats():
    class Call:
        def __init__(self, agent, messages):
            self.agent, self.messages = agent, messages

    chat = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    assert len(agent_chats([Call("A", chat), Call("A", list(chat))])) == 2


def bad_reply_call(agent="S"):
    return CallTokens(agent, [], [], messages=[{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}])


def test_every_rejection_counts_each_time():
    ok_exec = execution(0, 1.0, [call("S", "a")])
    t = tree(
        design(0, [], valid=False), design(1, [], valid=False),  # invalid twice
        design(2, []), design(3, []),  # not executed twice
        design(4, [execution(0, 0.0, [call("S", "a")])]), design(5, [execution(0, 0.0, [call("S", "a")])]),
        design(6, [ok_exec], think=""), design(7, [ok_exec], think=""),
    )
    t.designs[6].executions = []  # keep the executor side out of this count
    t.designs[7].executions = []
    t.designs[6].stop_reason = t.designs[7].stop_reason = None
    out = candidates_from_tree(t, problem_id="p", short_prompt=SHORT, config=SelectionConfig())
    assert out.rejected["designer: invalid design"] == 2 and out.rejected["designer: not executed"] == 4
    assert out.rejected["designer: mean reward below threshold"] == 2
    cut = tree(design(0, [ok_exec]), design(1, [ok_exec]))
    for d in cut.designs:
        d.stop_reason = "length"
    out = candidates_from_tree(cut, problem_id="p", short_prompt=SHORT, config=SelectionConfig())
    assert out.rejected["designer: answer cut at max_tokens"] == 2 and out.designer == []


def test_designer_rejections_for_missing_code_think_or_a_malformed_prompt():
    ok = [execution(0, 1.0, [call("S", "a")])]
    no_code = tree(design(0, ok), design(1, ok))
    for d in no_code.designs:
        d.text = "<think>plan</think> and no code at all"
    out = candidates_from_tree(no_code, problem_id="p", short_prompt=SHORT, config=SelectionConfig())
    assert out.rejected["designer: no code"] == 2 and out.designer == []
    out = candidates_from_tree(tree(design(0, ok, think=""), design(1, ok, think="")), problem_id="p",
                               short_prompt=SHORT, config=SelectionConfig())
    assert out.rejected["designer: no <think> analysis"] == 2
    out = candidates_from_tree(tree(design(0, ok), design(1, ok)), problem_id="p", short_prompt=[],
                               config=SelectionConfig())  # no user turn: the sample is malformed
    assert out.rejected["designer: malformed sample"] == 2 and out.designer == []


def test_the_short_prompt_is_used_even_when_the_design_kept_its_teachers():
    t = tree(design(0, [execution(0, 1.0, [call("S", "a")])], messages=[{"role": "user", "content": "teacher"}]))
    out = candidates_from_tree(t, problem_id="p", short_prompt=SHORT, config=SelectionConfig())
    assert out.designer[0].messages[0] == SHORT[0] and out.designer[0].source == ""


def test_executor_samples_carry_the_problem_and_rejections_count_each_time():
    t = tree(design(0, [execution(0, 0.0, [call("S", "x")]), execution(1, 1.0, [call("S", "a", stop="length")]),
                        execution(2, 1.0, [call("S", "b", stop="length")]), execution(3, 1.0, [call("T", "ok")]),
                        execution(4, 1.0, [bad_reply_call("U"), bad_reply_call("V")])], pattern="debate"))
    out = candidates_from_tree(t, problem_id="p9", short_prompt=SHORT, config=SelectionConfig(), source="s")
    assert [(s.id, s.agent) for s in out.executor] == [("executor_p9_d0e3_0", "T")]
    e = out.executor[0]
    assert (e.problem_id, e.data_source, e.task_type, e.pattern, e.source, e.reward, e.role) == (
        "p9", "math/x", "math", "debate", "s", 1.0, "executor")
    assert out.rejected["executor: a reply was cut at max_tokens"] == 2
    assert out.stats["correct_executions"] == 4
    assert out.rejected["executor: execution incorrect"] == 1
    assert out.rejected["executor: malformed chat"] == 2  # two agents' chats with an empty reply


def test_balance_and_select_defaults_and_seeds():
    pool = [sample(f"{c}{i}", pattern=c) for c in "ab" for i in range(6)]
    assert balance(pool, 5) == balance(pool, 5, seed=0)
    picks = {tuple(s.id for s in balance(pool, 5, seed=s)) for s in range(6)}
    assert len(picks) > 1
    for seed in range(3):
        assert select(pool, role="designer", target=5, seed=seed)[0] == balance(pool, 5, seed=seed)
    assert select(pool, role="designer", target=5)[0] == balance(pool, 5)
    assert len(select(pool, role="designer", target=0)[0]) == 12  # per_problem defaults to no cap


def test_balance_water_fills_over_several_rounds():
    pool = [sample(f"{c}0", pattern=c) for c in "abcd"]
    pool += [sample(f"e{i}", pattern="e") for i in range(4)] + [sample(f"f{i:02d}", pattern="f") for i in range(20)]
    picked = balance(pool, 22)
    assert len(picked) == 22
    assert Counter(s.pattern for s in picked) == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 4, "f": 14}
