"""Infrastructure faults are not rewards: classification, masking in rows, group statistics, step check."""

import pytest

from verl_metaagent.advantage.core import AdvantageConfig, compute_advantages
from verl_metaagent.rollout.faults import InfrastructureFaultError, check_fault_share, infrastructure_fault


@pytest.mark.parametrize(
    "status,reason,wall,llm,expected",
    [
        ("backend_error", "agent call 2 failed: TimeoutError: ", 5, 4, True),
        ("timeout", "no answer within 60 s wall / 30 s CPU (wall-clock limit of 60 s reached)", 60, 50, True),
        ("timeout", "no answer within 60 s wall / 30 s CPU (wall-clock limit of 60 s reached)", 60, 2, False),
        ("timeout", "no answer within 60 s wall / 30 s CPU (CPU limit of 30 s reached (SIGXCPU))", 31, 0, False),
        ("timeout", "no answer within 60 s wall / 30 s CPU (CPU limit of 30 s reached (SIGXCPU))", 60, 59, False),
        ("crash", "ZeroDivisionError", 1, 0, False),
        ("budget_exceeded", "more than 16 agent calls", 3, 3, False),
        ("no_answer", "the script ended without calling finish()", 1, 1, False),
        ("finished", "", 10, 9, False),
    ],
)
def test_whose_fault(status, reason, wall, llm, expected):
    fault = infrastructure_fault(status, reason, wall_seconds=wall, llm_seconds=llm, wall_limit=60)
    assert bool(fault) is expected


def test_fault_share_check_names_the_key_and_counts():
    check_fault_share(1, 4, 0.5)
    check_fault_share(0, 0, 0.0)
    with pytest.raises(InfrastructureFaultError,
                       match=r"3 of 4 executions.*metaagent.rollout.max_infra_fault_share=0.5"):
        check_fault_share(3, 4, 0.5)


def test_rowless_executions_count_in_their_group():
    """A design with executions rewarded 1, 1 and one that crashed before any call (reward 0, no rows):
    the group mean is 2/3 over three executions, not 1 over the two that have rows."""
    role = ["executor", "executor"]
    uid = ["p", "p"]
    duid = ["p/d0", "p/d0"]
    euid = ["p/d0/e0", "p/d0/e1"]
    cfg = AdvantageConfig(norm_by_std=False)
    without, _ = compute_advantages(role, uid, duid, euid, [1.0, 1.0], cfg)
    assert list(without) == [0.0, 0.0]
    with_rowless, _ = compute_advantages(role, uid, duid, euid, [1.0, 1.0], cfg,
                                         rowless_executions=[("p", "p/d0", "p/d0/e2", 0.0)])
    assert with_rowless == pytest.approx([1 / 3, 1 / 3])
    # per_sample statistics count agent calls: an execution without calls has no samples
    per_sample, _ = compute_advantages(
        role, uid, duid, euid, [1.0, 1.0], AdvantageConfig(norm_by_std=False, executor_stats="per_sample"),
        rowless_executions=[("p", "p/d0", "p/d0/e2", 0.0)],
    )
    assert list(per_sample) == [0.0, 0.0]


def _tree(executions_by_design, design_faults=None):
    from verl_metaagent.rollout.tree import CallTokens
    from verl_metaagent.rollout.tree_runner import DesignNode, ExecutionNode, ProblemSpec, ProblemTree

    problem = ProblemSpec("p", 0, "q?", "math", "math/x", "1")
    designs = []
    for j, executions in enumerate(executions_by_design):
        nodes = []
        for k, (reward, calls, fault) in enumerate(executions):
            call_list = [CallTokens("a", [1, 2], [3, 4], [-0.1, -0.2]) for _ in range(calls)]
            nodes.append(ExecutionNode(k, f"p/d{j}/e{k}", "finished", "", "1", reward, call_list, fault=fault))
        designs.append(
            DesignNode(j, f"p/d{j}", [1], [2, 3], None, "x", "code", True, "", "single", nodes, reward=0.5,
                       fault=(design_faults or {}).get(j, ""))
        )
    return ProblemTree(problem, designs)


def test_faulted_executions_and_designs_leave_no_rows_and_are_counted():
    from verl_metaagent.rollout.rows import RowStats, tree_summary, tree_to_rows

    tree = _tree(
        [
            [(1.0, 1, ""), (0.0, 2, "LLM backend: boom"), (0.0, 0, "")],  # e1 faulted, e2 crashed before calling
            [(0.0, 1, "grader failed: X")],
        ],
        design_faults={1: "every execution ended by an infrastructure fault"},
    )
    stats = RowStats()
    rows = tree_to_rows(tree, prompt_length=64, response_length=64, merge_multi_turn=True, max_rows_per_execution=16,
                        stats=stats)
    assert [(r.role, r.exec_uid) for r in rows] == [("designer", ""), ("executor", "p/d0/e0")]
    assert rows[0].rowless_executions == [("p/d0/e2", 0.0)]
    assert (stats.infra_fault_designs, stats.infra_fault_executions) == (1, 2)
    summary = tree_summary([tree], rows, stats)
    assert summary["dropped"]["infra_fault_executions"] == 2
    assert [e["fault"] for e in summary["executions"]] == [False, True, False, True]


def test_a_failing_backend_never_becomes_a_negative_advantage():
    """20% of agent calls fail: the faulted executions' rows are masked; before the fix they were trained
    with reward 0, i.e. a negative advantage. Counted on a seeded batch of 40 designs x 4 executions."""
    import random

    from verl_metaagent.rollout.rows import RowStats, tree_to_rows

    rng = random.Random(0)
    masked_rows = trained_negative_from_faults = 0
    for p in range(10):
        executions = []
        for j in range(4):
            design = []
            for k in range(4):
                calls = rng.randint(1, 3)
                failed = any(rng.random() < 0.2 for _ in range(calls))
                design.append(
                    (0.0 if failed else float(rng.random() < 0.5), calls, "LLM backend: injected" if failed else ""))
            executions.append(design)
        tree = _tree(executions)
        stats = RowStats()
        rows = tree_to_rows(tree, prompt_length=64, response_length=64, merge_multi_turn=False,
                            max_rows_per_execution=16, stats=stats)
        masked_rows += sum(calls for design in executions for (_, calls, fault) in design if fault)
        faulted = {f"p/d{j}/e{k}" for j, d in enumerate(executions) for k, (_, _, f) in enumerate(d) if f}
        role = [r.role for r in rows]
        adv, _ = compute_advantages(role, [r.uid for r in rows], [r.design_uid for r in rows],
                                    [r.exec_uid for r in rows], [r.reward for r in rows])
        trained_negative_from_faults += sum(1 for r, a in zip(rows, adv) if r.exec_uid in faulted and a < 0)
    assert masked_rows > 0
    assert trained_negative_from_faults == 0


class _FailingClient:
    """An LLM endpoint that is down: every call raises."""

    async def complete(self, request_id, messages, sampling, *, previous=None):
        raise ConnectionError("backend down")


@pytest.mark.parametrize("mask", [True, False])
async def test_a_failed_designer_call_is_masked_in_training_and_raised_elsewhere(mask):
    from verl_metaagent.rollout.config import load_rollout_config
    from verl_metaagent.rollout.rows import RowStats, tree_to_rows
    from verl_metaagent.rollout.tree_runner import ProblemSpec, TreeRunner

    async def grader(*args):
        return 1.0

    runner = TreeRunner(load_rollout_config({"num_designs": 2}), _FailingClient(), grader, prompt_length=64,
                        response_length=64, mask_faults=mask)
    problem = ProblemSpec("p", 0, "What is 1 + 1?", "math", "math/x", "2")
    if not mask:
        with pytest.raises(ConnectionError):
            await runner.grow(problem)
        return
    tree = await runner.grow(problem)
    assert all(d.fault.startswith("designer call failed: ConnectionError") for d in tree.designs)
    stats = RowStats()
    assert tree_to_rows(tree, prompt_length=64, response_length=64, merge_multi_turn=True, max_rows_per_execution=4,
                        stats=stats) == []
    assert stats.infra_fault_designs == 2
