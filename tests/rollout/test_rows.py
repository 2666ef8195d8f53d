"""rows.py on hand-made trees: which rows a tree gives, with which ids and rewards, what is dropped and
counted, and the summary / metrics built from them."""

import pytest

from verl_metaagent.contract import design_uid, exec_uid
from verl_metaagent.rollout.rows import RowStats, merge_summaries, rollout_metrics, tree_summary, tree_to_rows
from verl_metaagent.rollout.tree import CallTokens
from verl_metaagent.rollout.tree_runner import DesignNode, ExecutionNode, ProblemSpec, ProblemTree


def call(agent, prompt, response, logprobs=None):
    return CallTokens(agent=agent, prompt_ids=list(prompt), response_ids=list(response), logprobs=logprobs,
                      messages=[{"role": "user", "content": f"{agent}:{prompt[0]}"}])


def execution(j, k, reward, calls, status="finished", fault=""):
    return ExecutionNode(k=k, exec_uid=exec_uid("p", j, k), status=status, reason="", final_answer="1",
                         reward=reward, calls=calls, seconds=1.0 + k, llm_seconds=0.5, fault=fault)


def design(j, reward, executions, valid=True, pattern="single", fault="", prompt=(1, 2, 3), response=(4, 5)):
    return DesignNode(j=j, design_uid=design_uid("p", j), prompt_ids=list(prompt), response_ids=list(response),
                      logprobs=[-0.5] * len(response), text="script", code="x" if valid else None, valid=valid,
                      invalid_reason="" if valid else "no code", pattern=pattern, executions=executions,
                      reward=reward, messages=[{"role": "user", "content": "design"}], fault=fault)


def tree(designs, validation_reward=None):
    problem = ProblemSpec(uid="p", problem_index=3, question="q", task_type="math", data_source="math/demo",
                          ground_truth="1")
    return ProblemTree(problem=problem, designs=designs, validation_reward=validation_reward)


def rows_of(t, *, cap=0, prompt_length=100, response_length=100, merge=False, validate=False, stats=None):
    return tree_to_rows(t, prompt_length=prompt_length, response_length=response_length, merge_multi_turn=merge,
                        max_rows_per_execution=cap, validate=validate, stats=stats)


def two_designs():
    """Design 0 (R=0.5): e0 (r=1, agents a then b), e1 (r=0, agent a). Design 1: invalid (format reward 0.1)."""
    d0 = design(0, 0.5, [execution(0, 0, 1.0, [call("a", [10], [11]), call("b", [20], [21, 22])]),
                         execution(0, 1, 0.0, [call("a", [30], [31])], status="no_answer")])
    d1 = design(1, 0.1, [], valid=False, pattern="other")
    return tree([d0, d1])


def test_rows_in_order_with_ids_rewards_and_terminations():
    rows = rows_of(two_designs())
    assert [(r.role, r.design_uid, r.exec_uid) for r in rows] == [
        ("designer", "p/d0", ""),
        ("executor", "p/d0", "p/d0/e0"),
        ("executor", "p/d0", "p/d0/e0"),
        ("executor", "p/d0", "p/d0/e1"),
        ("designer", "p/d1", ""),
    ]
    # executor rows carry their own execution's reward, never their design's
    assert [r.reward for r in rows] == [0.5, 1.0, 1.0, 0.0, 0.1]
    assert [r.termination for r in rows] == ["valid", "finished", "finished", "no_answer", "invalid_design"]
    assert {r.uid for r in rows} == {"p"} and {r.problem_index for r in rows} == {3}
    assert {r.data_source for r in rows} == {"math/demo"}
    assert [r.agent for r in rows] == ["designer", "a", "b", "a", "designer"]
    assert [r.pattern for r in rows] == ["single"] * 4 + ["other"]
    designer = rows[0]
    assert (designer.prompt_ids, designer.response_ids, designer.response_mask) == ([1, 2, 3], [4, 5], [1, 1])
    assert designer.logprobs == [-0.5, -0.5] and designer.num_turns == 2
    assert designer.messages == [{"role": "user", "content": "design"}, {"role": "assistant", "content": "script"}]
    b = rows[2]
    assert (b.prompt_ids, b.response_ids, b.response_mask, b.num_turns) == ([20], [21, 22], [1, 1], 2)
    assert b.messages == [{"role": "user", "content": "b:20"}]
    assert all(r.rowless_executions == [] for r in rows)


def test_the_per_execution_row_cap_is_applied_and_counted():
    calls = [call(f"agent{i}", [i], [i]) for i in range(5)]
    stats = RowStats()
    rows = rows_of(tree([design(0, 1.0, [execution(0, 0, 1.0, calls)])]), cap=2, stats=stats)
    assert [r.agent for r in rows if r.role == "executor"] == ["agent0", "agent4"]
    assert stats.rows_over_cap == 3
    assert [r.agent for r in rows_of(tree([design(0, 1.0, [execution(0, 0, 1.0, calls)])]), cap=0)][1:] == [
        f"agent{i}" for i in range(5)]


def test_too_long_calls_are_dropped_and_counted():
    stats = RowStats()
    calls = [call("a", [1] * 5, [2]), call("b", [1], [2] * 5), call("c", [1] * 4, [2] * 4)]
    rows = rows_of(tree([design(0, 1.0, [execution(0, 0, 1.0, calls)])]), prompt_length=4, response_length=4,
                   stats=stats)
    assert [r.agent for r in rows] == ["designer", "c"] and stats.calls_too_long == 2


def test_multi_turn_calls_merge_only_when_asked():
    calls = [call("a", [1, 2], [3]), call("a", [1, 2, 3, 9], [4])]
    one = rows_of(tree([design(0, 1.0, [execution(0, 0, 1.0, calls)])]), merge=True)[1:]
    assert [(r.response_ids, r.response_mask, r.num_turns) for r in one] == [([3, 9, 4], [1, 0, 1], 4)]
    two = rows_of(tree([design(0, 1.0, [execution(0, 0, 1.0, calls)])]), merge=False)[1:]
    assert [r.response_ids for r in two] == [[3], [4]]


def test_an_execution_without_rows_is_listed_on_its_designer_row():
    d0 = design(0, 0.5, [execution(0, 0, 1.0, [call("a", [1], [2])]), execution(0, 1, 0.0, [], status="crash")])
    d1 = design(1, 0.25, [execution(1, 0, 0.25, [], status="crash")])
    rows = rows_of(tree([d0, d1]))
    assert [(r.role, r.rowless_executions) for r in rows] == [
        ("designer", [("p/d0/e1", 0.0)]), ("executor", []), ("designer", [("p/d1/e0", 0.25)])]


def test_infrastructure_faults_are_masked_and_counted():
    d0 = design(0, 0.5, [execution(0, 0, 1.0, [call("a", [1], [2])]),
                         execution(0, 1, 0.0, [call("a", [3], [4])], fault="backend")])
    d1 = design(1, 0.0, [execution(1, 0, 0.0, [], fault="backend"), execution(1, 1, 0.0, [])], fault="designer")
    stats = RowStats()
    rows = rows_of(tree([d0, d1]), stats=stats)
    assert [(r.role, r.exec_uid) for r in rows] == [("designer", ""), ("executor", "p/d0/e0")]
    assert rows[0].rowless_executions == []  # a faulted execution is in no group
    assert (stats.infra_fault_designs, stats.infra_fault_executions) == (1, 2)


def test_a_long_designer_prompt_is_left_truncated_and_counted():
    stats = RowStats()
    d = design(0, 0.0, [], valid=False, prompt=(1, 2, 3, 4, 5), response=(6, 7, 8))
    (row,) = rows_of(tree([d]), prompt_length=3, response_length=2, stats=stats)
    assert (row.prompt_ids, row.response_ids, row.response_mask, row.logprobs) == ([3, 4, 5], [6, 7], [1, 1],
                                                                                   [-0.5, -0.5])
    assert stats.designer_too_long == 2
    (fits,) = rows_of(tree([design(0, 0.0, [], valid=False, prompt=(1, 2, 3), response=(6, 7))]), prompt_length=3,
                      response_length=2, stats=(fitting := RowStats()))
    assert (fits.prompt_ids, fits.response_ids) == ([1, 2, 3], [6, 7]) and fitting.designer_too_long == 0


def test_validation_gives_one_row_with_the_selected_reward():
    t = two_designs()
    t.validation_reward = 0.75
    t.designs[0].fault = "backend"  # not masked in validation
    (row,) = rows_of(t, validate=True)
    assert (row.role, row.design_uid, row.reward, row.termination) == ("designer", "p/d0", 0.75, "finished")
    t.validation_reward = None
    assert rows_of(t, validate=True)[0].reward == 0.0
    assert rows_of(tree([design(0, 0.0, [], valid=False)], validation_reward=0.0), validate=True)[0].termination == (
        "invalid_design")


def test_summary_and_metrics():
    t = two_designs()
    stats = RowStats(calls_too_long=1, rows_over_cap=2, designer_too_long=3, infra_fault_designs=4,
                     infra_fault_executions=5)
    summary = tree_summary([t], rows_of(t), stats)
    assert summary["designs"] == [
        {"valid": True, "reward": 0.5, "pattern": "single", "agents": 2, "executed": True, "fault": False},
        {"valid": False, "reward": 0.1, "pattern": "other", "agents": 0, "executed": False, "fault": False},
    ]
    assert summary["executions"] == [
        {"reward": 1.0, "status": "finished", "calls": 2, "seconds": 1.0, "llm_seconds": 0.5, "fault": False},
        {"reward": 0.0, "status": "no_answer", "calls": 1, "seconds": 2.0, "llm_seconds": 0.5, "fault": False},
    ]
    assert summary["rows"] == {"designer": 2, "executor": 3}
    assert summary["dropped"] == {"too_long": 1, "over_cap": 2, "designer_truncated": 3, "infra_fault_designs": 4,
                                  "infra_fault_executions": 5}
    merged = merge_summaries([summary, summary])
    assert len(merged["designs"]) == 4 and len(merged["executions"]) == 4
    assert merged["rows"] == {"designer": 4, "executor": 6} and merged["dropped"]["over_cap"] == 4
    m = rollout_metrics(merged)
    p = "metaagent/rollout/"
    assert m[p + "design_valid_rate"] == 0.5
    assert m[p + "designer_reward_mean"] == pytest.approx(0.3)
    assert m[p + "agents_per_design"] == 2.0  # over executed designs only
    assert m[p + "pattern/single"] == 0.5 and m[p + "pattern/other"] == 0.5
    assert m[p + "executor_reward_mean"] == 0.5
    assert m[p + "calls_per_execution"] == 1.5
    assert m[p + "execution_seconds_mean"] == 1.5 and m[p + "execution_seconds_max"] == 2.0
    assert m[p + "termination/finished"] == 0.5 and m[p + "termination/no_answer"] == 0.5
    assert m[p + "infra_fault_rate"] == 0.0
    assert m[p + "rows_designer"] == 4.0 and m[p + "rows_executor"] == 6.0
    assert m[p + "dropped_too_long"] == 2.0 and m[p + "dropped_infra_fault_executions"] == 10.0


def test_metrics_of_an_empty_summary_and_of_faults():
    assert rollout_metrics(merge_summaries([])) == {}
    t = tree([design(0, 0.0, [execution(0, 0, 0.0, [], fault="backend"), execution(0, 1, 0.0, [])])])
    m = rollout_metrics(tree_summary([t], [], RowStats()))
    assert m["metaagent/rollout/infra_fault_rate"] == 0.5
    assert "metaagent/rollout/agents_per_design" in m
    no_exec = rollout_metrics(tree_summary([tree([design(0, 0.0, [], valid=False)])], [], RowStats()))
    assert "metaagent/rollout/agents_per_design" not in no_exec
    assert "metaagent/rollout/executor_reward_mean" not in no_exec


def test_counters_add_up_over_executions_and_designs():
    long_call = call("x", [1] * 200, [2])
    many = [call(f"a{i}", [i], [i]) for i in range(3)]
    d0 = design(0, 0.0, [], fault="designer")
    d1 = design(1, 0.0, [], fault="designer")
    d2 = design(2, 1.0, [execution(2, 0, 0.0, [], fault="backend"), execution(2, 1, 0.0, [], fault="backend"),
                         execution(2, 2, 1.0, [long_call] + many), execution(2, 3, 1.0, [long_call] + many)])
    stats = RowStats(designer_too_long=5)
    rows = tree_to_rows(tree([d0, d1, d2]), prompt_length=100, response_length=100, merge_multi_turn=False,
                        max_rows_per_execution=2, stats=stats)  # validate defaults to False: training rows
    assert [(r.role, r.exec_uid, r.agent) for r in rows] == [
        ("designer", "", "designer"), ("executor", "p/d2/e2", "a0"), ("executor", "p/d2/e2", "a2"),
        ("executor", "p/d2/e3", "a0"), ("executor", "p/d2/e3", "a2")]
    assert (stats.infra_fault_designs, stats.infra_fault_executions, stats.calls_too_long, stats.rows_over_cap) == (
        2, 2, 2, 2)
    _ = rows_of(tree([design(0, 0.0, [], valid=False, prompt=(1,) * 200)]), stats=stats)
    assert stats.designer_too_long == 6


def test_executor_rows_keep_their_logprobs():
    t = tree([design(0, 1.0, [execution(0, 0, 1.0, [call("a", [1], [2, 3], logprobs=[-0.1, -0.2])])])])
    assert rows_of(t)[1].logprobs == [-0.1, -0.2]


def test_validation_row_is_fitted_and_counted_too():
    stats = RowStats()
    t = tree([design(0, 1.0, [execution(0, 0, 1.0, [])], prompt=(1,) * 10)], validation_reward=1.0)
    (row,) = tree_to_rows(t, prompt_length=4, response_length=8, merge_multi_turn=False, max_rows_per_execution=0,
                          validate=True, stats=stats)
    assert row.prompt_ids == [1] * 4 and stats.designer_too_long == 1


def test_a_long_designer_answer_without_logprobs_is_cut():
    d = design(0, 0.0, [], valid=False, response=(6, 7, 8))
    d.logprobs = None
    (row,) = rows_of(tree([d]), response_length=2)
    assert (row.response_ids, row.logprobs) == ([6, 7], None)


def test_summary_of_faults_and_of_no_rows():
    t = tree([design(0, 0.0, [execution(0, 0, 0.0, [], fault="backend")], fault="designer")])
    summary = tree_summary([t], [], RowStats())
    assert summary["designs"][0]["fault"] is True and summary["executions"][0]["fault"] is True
    assert summary["rows"] == {"designer": 0, "executor": 0}
