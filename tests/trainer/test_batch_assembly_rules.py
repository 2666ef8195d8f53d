"""batch_assembly's rules one by one on small hand-made batches: the join's range checks and precedence,
what attach_rewards_and_advantages keeps, the mini-batch plan's exact numbers, pad rows, and the step's
metrics with their values."""

import numpy as np
import pytest
import torch

from verl_metaagent.advantage.core import AdvantageConfig
from verl_metaagent.phases import PhaseConfig
from verl_metaagent.trainer.batch_assembly import (
    MiniBatchPlan,
    _role_metrics,
    assemble_step_batch,
    attach_rewards_and_advantages,
    join_prompt_rows,
    pad_rows,
    plan_minibatches,
)

from .conftest import fake_prompts, fake_rows

# one problem: design 0 (executions e0: r=1, e1: r=0), design 1 invalid (format reward 0)
SMALL = [
    (0, "designer", 0, None, 0.5, 2),
    (0, "executor", 0, 0, 1.0, 3),
    (0, "executor", 0, 1, 0.0, 1),
    (0, "designer", 1, None, 0.0, 4),
]


def test_join_errors_in_full():
    prompts, rows = fake_prompts(2), fake_rows(SMALL)
    del rows.non_tensor_batch["problem_index"]
    with pytest.raises(KeyError) as err:
        join_prompt_rows(prompts, rows)
    assert err.value.args[0] == "rollout rows need non_tensor_batch['problem_index'] (docs/architecture.md)"
    for bad, shown in ((-1, "-1..0"), (2, "0..2")):
        rows = fake_rows(SMALL)
        rows.non_tensor_batch["problem_index"][1 if bad > 0 else 0] = bad
        with pytest.raises(IndexError) as err:
            join_prompt_rows(prompts, rows)
        assert str(err.value) == f"problem_index out of range [0, 2): {shown}"
    rows = fake_rows(SMALL)
    rows.non_tensor_batch["problem_index"][:] = 1  # the last problem is in range
    assert [d["ground_truth"] for d in join_prompt_rows(prompts, rows).non_tensor_batch["reward_model"]] == ["1"] * 4


def test_join_copies_prompt_tensors_per_row_and_keeps_the_rollouts():
    prompts = fake_prompts(2)
    prompts.batch["dummy_tensor"] = torch.tensor([[7], [9]], dtype=torch.uint8)
    prompts.batch["responses"] = torch.full((2, 5), -1)  # the rollout's own tensor wins
    rows = fake_rows([(1, "designer", 0, None, 1.0, 2), (0, "designer", 0, None, 0.0, 2)])
    rows.meta_info = {"step": 3}
    responses = rows.batch["responses"].clone()
    joined = join_prompt_rows(prompts, rows)
    assert joined.batch["dummy_tensor"].flatten().tolist() == [9, 7]
    assert torch.equal(joined.batch["responses"], responses)
    assert joined.meta_info == {"step": 3}
    assert joined.non_tensor_batch["extra_info"].tolist() == [{"index": 1}, {"index": 0}]


def test_join_with_prompts_that_carry_no_tensors():
    prompts = fake_prompts(1)
    prompts = prompts.select_idxs(np.array([True]))
    prompts.batch = None  # e.g. a dataloader batch of non-tensor fields only
    joined = join_prompt_rows(prompts, fake_rows(SMALL))
    assert len(joined) == 4 and "dummy_tensor" not in joined.batch.keys()
    assert joined.non_tensor_batch["reward_model"].tolist() == [{"ground_truth": "0"}] * 4


def test_attach_keeps_given_scores_and_rewards_and_sets_returns():
    rows = fake_rows(SMALL)
    attach_rewards_and_advantages(rows, AdvantageConfig(norm_by_std=False))
    assert torch.equal(rows.batch["token_level_scores"], rows.batch["rm_scores"])
    assert torch.equal(rows.batch["token_level_rewards"], rows.batch["rm_scores"])
    assert torch.equal(rows.batch["returns"], rows.batch["advantages"])
    # designers [0.5, 0.0] -> +-0.25 over their response tokens; executions [1, 0] -> +-0.5
    assert rows.batch["advantages"][:, 0].tolist() == [0.25, 0.5, -0.5, -0.25]
    assert rows.batch["advantages"][0].tolist() == [0.25, 0.25, 0.0, 0.0, 0.0]
    given = fake_rows(SMALL)
    given.batch["token_level_scores"] = torch.zeros_like(given.batch["rm_scores"])
    given.batch["token_level_rewards"] = given.batch["rm_scores"].flip(0)  # e.g. after a KL penalty
    stats = attach_rewards_and_advantages(given, AdvantageConfig(norm_by_std=False))
    assert torch.all(given.batch["token_level_scores"] == 0)
    assert given.batch["advantages"][:, 0].tolist() == [-0.25, -0.5, 0.5, 0.25]  # from the given rewards
    assert stats["groups"] == 2.0


@pytest.mark.parametrize("args, shown", [((0, 1, 1), "0, 1, 1, 1"), ((1, 0, 1), "1, 0, 1, 1"),
                                          ((1, 1, 0), "1, 1, 0, 1"), ((1, 1, 1, 0), "1, 1, 1, 0")])
def test_plan_refuses_non_positive_sizes(args, shown):
    with pytest.raises(ValueError) as err:
        plan_minibatches(*args)
    assert str(err.value) == f"need rows, dp_size, num_mini_batches, micro_batch_size >= 1; got {shown}"


@pytest.mark.parametrize("args, plan", [
    ((1, 1, 1), (1, 1, 0, 1, 1)),
    ((9, 1, 3), (9, 9, 0, 3, 3)),
    ((10, 1, 4), (10, 12, 2, 4, 3)),
    ((5, 2, 4), (5, 6, 1, 3, 2)),  # 4 mini-batches of 2 would hold 3 pad rows (one all padding): 3 of 2
    ((1, 1, 2), (1, 1, 0, 1, 1)),  # one row: one mini-batch, nothing to pad
    ((3, 2, 1, 4), (3, 8, 5, 1, 8)),  # one mini-batch, mostly padding, but it holds the real rows
    ((17, 2, 3, 2), (17, 24, 7, 3, 8)),
])
def test_plan_numbers(args, plan):
    p = plan_minibatches(*args)
    assert p == MiniBatchPlan(*plan)
    assert all(isinstance(v, int) for v in (p.padded_rows, p.rows_per_mini_batch))


def test_pad_rows_of_a_one_row_batch_and_its_fields():
    rows = fake_rows(SMALL[:1])
    rows.meta_info = {"k": 1}
    del rows.non_tensor_batch["metaagent_reward"]
    padded = pad_rows(rows, 3)
    assert len(padded) == 4 and padded.meta_info == {"k": 1}
    ntb = padded.non_tensor_batch
    assert ntb["role"].tolist() == ["designer", "pad", "pad", "pad"]
    assert ntb["uid"].tolist() == ["u0", "__pad__0", "__pad__1", "__pad__2"]
    assert ntb["design_uid"].tolist() == ["u0/d0", "", "", ""] and "metaagent_reward" not in ntb
    with_reward = pad_rows(fake_rows(SMALL), 2)
    assert with_reward.non_tensor_batch["metaagent_reward"].tolist() == [0.5, 1.0, 0.0, 0.0, 0.0, 0.0]
    empty = fake_rows(SMALL).select_idxs(np.zeros(4, dtype=bool))
    with pytest.raises(ValueError) as err:
        pad_rows(empty, 1)
    assert str(err.value) == "cannot pad an empty batch"


def test_role_metrics_values():
    rows = fake_rows(SMALL)
    attach_rewards_and_advantages(rows, AdvantageConfig(norm_by_std=False))
    m = _role_metrics(pad_rows(rows, 1), "p")
    assert (m["p/rows_designer"], m["p/rows_executor"], m["p/rows_pad"]) == (2.0, 2.0, 1.0)
    assert m["p/designer/reward_mean"] == 0.25 and m["p/executor/reward_mean"] == 0.5
    assert m["p/designer/adv_mean"] == 0.0 and m["p/designer/adv_std"] == 0.25  # population std of +-0.25
    assert m["p/executor/adv_mean"] == 0.0 and m["p/executor/adv_std"] == 0.5
    assert m["p/designer/response_tokens"] == 6.0 and m["p/executor/response_tokens"] == 4.0
    assert set(m) == {"p/rows_designer", "p/rows_executor", "p/rows_pad"} | {
        f"p/{r}/{k}" for r in ("designer", "executor")
        for k in ("reward_mean", "adv_mean", "adv_std", "response_tokens")}
    one = fake_rows(SMALL[1:2])  # a single executor row: no designer metrics, executor ones still there
    attach_rewards_and_advantages(one, AdvantageConfig())
    m = _role_metrics(one, "q")
    assert "q/designer/adv_mean" not in m and m["q/executor/reward_mean"] == 1.0 and m["q/executor/adv_std"] == 0.0
    empty = one.select_idxs(np.zeros(1, dtype=bool))
    assert _role_metrics(empty, "e") == {"e/rows_designer": 0.0, "e/rows_executor": 0.0, "e/rows_pad": 0.0}


def test_role_metrics_average_advantages_over_a_rows_tokens():
    rows = fake_rows(SMALL[1:3])
    rows.batch["advantages"] = torch.tensor([[1.0, 2.0, 3.0, 9.0, 9.0], [4.0, 9.0, 9.0, 9.0, 9.0]])
    rows.batch["token_level_rewards"] = rows.batch["rm_scores"]
    m = _role_metrics(rows, "p")
    assert m["p/executor/adv_mean"] == 3.0  # rows' token means: 2.0 (3 tokens) and 4.0 (1 token)
    assert m["p/executor/adv_std"] == 1.0


def test_step_metrics_and_results():
    prompts, rows = fake_prompts(1), fake_rows(SMALL)
    out = assemble_step_batch(prompts, rows, global_step=1, adv_config=AdvantageConfig(norm_by_std=False),
                              phase_config=PhaseConfig(mode="simultaneous"), dp_size=1, num_mini_batches=3)
    m = out.metrics
    assert (m["metaagent/adv/groups"], m["metaagent/adv/singleton_groups"], m["metaagent/adv/flat_groups"]) == (
        2.0, 0.0, 0.0)
    assert m["metaagent/all/rows_designer"] == 2.0 and m["metaagent/train/rows_executor"] == 2.0
    assert m["metaagent/train/num_mini_batches"] == 2.0  # 3 would leave a padding-only mini-batch of 4 rows
    assert m["metaagent/train/rows_per_mini_batch"] == 2.0 and m["metaagent/train/skipped_empty_phase"] == 0.0
    assert out.phase.mode == "simultaneous" and len(out.all_rows) == 4 and out.plan.num_mini_batches == 2
    assert out.all_rows.batch["advantages"][:, 0].tolist() == [0.25, 0.5, -0.5, -0.25]
    three = rows.select_idxs(np.array([True, True, True, False]))
    micro = assemble_step_batch(prompts, three, global_step=1, adv_config=AdvantageConfig(),
                                phase_config=PhaseConfig(mode="simultaneous"), dp_size=1, num_mini_batches=1)
    assert micro.plan == MiniBatchPlan(3, 3, 0, 1, 3)  # micro_batch_size defaults to 1
    micro = assemble_step_batch(prompts, three, global_step=1, adv_config=AdvantageConfig(),
                                phase_config=PhaseConfig(mode="simultaneous"), dp_size=1, num_mini_batches=1,
                                micro_batch_size=2)
    assert micro.plan == MiniBatchPlan(3, 4, 1, 1, 4)
    skipped = assemble_step_batch(prompts, rows.select_idxs(np.array([True, False, False, True])), global_step=1,
                                  adv_config=AdvantageConfig(), phase_config=PhaseConfig(), dp_size=1,
                                  num_mini_batches=1)
    assert skipped.batch is None and skipped.plan is None and skipped.phase.active_roles == ("executor",)
    assert len(skipped.all_rows) == 2 and skipped.metrics["metaagent/train/skipped_empty_phase"] == 1.0
