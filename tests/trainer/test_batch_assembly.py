"""Batch assembly on verl's real DataProto: join, phase filter, padding, mini-batch plan, loss invariance."""

import numpy as np
import pytest
import torch

from verl.trainer.ppo.core_algos import agg_loss, compute_policy_loss

from verl_metaagent.advantage.core import AdvantageConfig
from verl_metaagent.phases import PhaseConfig
from verl_metaagent.trainer.batch_assembly import (
    assemble_step_batch,
    attach_rewards_and_advantages,
    filter_roles,
    join_prompt_rows,
    pad_rows,
    plan_minibatches,
)

from .conftest import SPEC, fake_prompts, fake_rows


def test_join_copies_prompt_fields_per_row(step_data):
    prompts, rows = step_data
    joined = join_prompt_rows(prompts, rows)
    assert len(joined) == len(SPEC)
    gts = [d["ground_truth"] for d in joined.non_tensor_batch["reward_model"]]
    assert gts == [str(p) for p, *_ in SPEC]
    assert "dummy_tensor" in joined.batch.keys()
    assert joined.non_tensor_batch["role"].tolist() == [r for _, r, *_ in SPEC]  # rollout fields kept


def test_join_keeps_the_rollouts_per_repeat_uid():
    """A problem sampled twice in one batch grows two trees (``u0`` and ``u0#1``); the prompt's ``uid`` must not
    overwrite the rows' (the two copies would merge into one advantage group)."""
    prompts = fake_prompts(2)
    prompts.non_tensor_batch["uid"] = np.array(["u0", "u0"], dtype=object)
    rows = fake_rows([(0, "designer", 0, None, 1.0, 2), (0, "designer", 1, None, 0.0, 2),
                      (1, "designer", 0, None, 0.0, 2), (1, "designer", 1, None, 0.0, 2)])
    rows.non_tensor_batch["uid"] = np.array(["u0", "u0", "u0#1", "u0#1"], dtype=object)
    rows.non_tensor_batch["design_uid"] = np.array(["u0/d0", "u0/d1", "u0#1/d0", "u0#1/d1"], dtype=object)
    joined = join_prompt_rows(prompts, rows)
    assert joined.non_tensor_batch["uid"].tolist() == ["u0", "u0", "u0#1", "u0#1"]
    attach_rewards_and_advantages(joined, AdvantageConfig(norm_by_std=False))
    assert joined.batch["advantages"][:, 0].tolist() == [0.5, -0.5, 0.0, 0.0]
    assert joined.meta_info == rows.meta_info


def test_join_rejects_bad_problem_index(step_data):
    prompts, rows = step_data
    rows.non_tensor_batch["problem_index"][0] = 5
    with pytest.raises(IndexError):
        join_prompt_rows(prompts, rows)


def test_advantages_masked_and_per_row(step_data):
    prompts, rows = step_data
    joined = join_prompt_rows(prompts, rows)
    attach_rewards_and_advantages(joined, AdvantageConfig(norm_by_std=False))
    adv = joined.batch["advantages"]
    mask = joined.batch["response_mask"]
    assert torch.all(adv[mask == 0] == 0)
    # problem 0 designers [0.5, 0.0] -> +0.25 / -0.25 on every response token
    assert torch.allclose(adv[0][mask[0] == 1], torch.full((5,), 0.25))
    assert torch.allclose(adv[4][mask[4] == 1], torch.full((2,), -0.25))
    # problem 1 executions (problem group, per execution): [1, 1, 0, 1] mean 0.75
    assert torch.allclose(adv[11][mask[11] == 1], torch.full((4,), -0.75))
    assert torch.allclose(adv[7][mask[7] == 1], torch.full((5,), 0.25))


@pytest.mark.parametrize("dp", [1, 2, 8])
@pytest.mark.parametrize(
    "mode,role,count", [("executor_only", "executor", 9), ("designer_only", "designer", 4), ("simultaneous", None, 13)])
def test_assembly_sizes_for_dp(step_data, dp, mode, role, count):
    prompts, rows = step_data
    out = assemble_step_batch(
        prompts, rows, global_step=1, adv_config=AdvantageConfig(), phase_config=PhaseConfig(mode=mode), dp_size=dp,
        num_mini_batches=2
    )
    batch, plan = out.batch, out.plan
    assert plan.rows == count
    assert len(batch) == plan.padded_rows
    assert plan.padded_rows % (plan.num_mini_batches * dp) == 0
    assert plan.rows_per_mini_batch % dp == 0
    assert plan.rows_per_mini_batch > plan.pad_rows  # no mini-batch can be padding only
    roles = batch.non_tensor_batch["role"]
    real = roles != "pad"
    assert real.sum() == count and (~real).sum() == plan.pad_rows
    if role is not None:
        assert set(roles[real]) == {role}
    # pad rows: zero response mask, zero advantages/rewards, unique uids, no design/exec id, tokens kept
    pad = ~real
    assert torch.all(batch.batch["response_mask"][torch.as_tensor(pad)] == 0)
    assert torch.all(batch.batch["advantages"][torch.as_tensor(pad)] == 0)
    assert torch.all(batch.batch["token_level_rewards"][torch.as_tensor(pad)] == 0)
    assert torch.all(batch.batch["attention_mask"][torch.as_tensor(pad)].sum(-1) > 0)
    pad_uids = batch.non_tensor_batch["uid"][pad].tolist()
    assert len(set(pad_uids)) == len(pad_uids) and all(u.startswith("__pad__") for u in pad_uids)
    assert all(x == "" for x in batch.non_tensor_batch["exec_uid"][pad])
    # real rows are untouched by padding
    assert out.metrics["metaagent/train/rows_pad"] == plan.pad_rows


def test_expected_padding_numbers():
    assert plan_minibatches(9, 1, 2).padded_rows == 10
    assert plan_minibatches(9, 2, 2).padded_rows == 12
    assert plan_minibatches(9, 8, 2).padded_rows == 16  # 2 x 8 = 16 >= 9: 7 pad rows, 8 rows per mini-batch
    p = plan_minibatches(9, 8, 4)  # 4 x 8 = 32 would leave 23 pad rows > 8 per mini-batch -> fewer mini-batches
    assert (p.num_mini_batches, p.padded_rows, p.rows_per_mini_batch) == (2, 16, 8)
    p = plan_minibatches(3, 1, 4)
    assert p.pad_rows < p.rows_per_mini_batch
    with pytest.raises(ValueError):
        plan_minibatches(0, 1, 1)


def test_phase_alternation_selects_roles(step_data):
    prompts, rows = step_data
    cfg = PhaseConfig(phase_length=2)
    seen = []
    for step in range(1, 6):
        out = assemble_step_batch(prompts, rows, global_step=step, adv_config=AdvantageConfig(), phase_config=cfg,
                                  dp_size=1, num_mini_batches=1)
        roles = set(out.batch.non_tensor_batch["role"]) - {"pad"}
        seen.append(roles)
        assert out.metrics["metaagent/phase/index"] == (step - 1) // 2
    assert seen == [{"executor"}, {"executor"}, {"designer"}, {"designer"}, {"executor"}]


def test_empty_phase_is_skipped():
    prompts = fake_prompts(1)
    rows = fake_rows([(0, "designer", 0, None, 0.0, 3), (0, "designer", 1, None, 0.0, 3)])  # all designs invalid
    out = assemble_step_batch(prompts, rows, global_step=1, adv_config=AdvantageConfig(), phase_config=PhaseConfig(),
                              dp_size=2, num_mini_batches=1)
    assert out.batch is None and out.metrics["metaagent/train/skipped_empty_phase"] == 1.0


def _token_mean_policy_loss(batch, log_prob):
    mask = batch.batch["response_mask"].float()
    pg_losses = compute_policy_loss(
        old_log_prob=batch.batch["old_log_probs"],
        log_prob=log_prob,
        advantages=batch.batch["advantages"],
        response_mask=mask,
        cliprange=0.2,
        loss_agg_mode="token-mean",
    )[0]
    return pg_losses


@pytest.mark.parametrize("dp", [1, 2, 8])
def test_padding_does_not_change_token_mean_loss_or_gradient(step_data, dp):
    prompts, rows = step_data
    out = assemble_step_batch(
        prompts, rows, global_step=1, adv_config=AdvantageConfig(), phase_config=PhaseConfig(mode="simultaneous"),
        dp_size=dp, num_mini_batches=1
    )
    padded = out.batch
    real = torch.as_tensor(padded.non_tensor_batch["role"] != "pad")
    assert out.plan.pad_rows > 0 or dp == 1
    g = torch.Generator().manual_seed(1)
    padded.batch["old_log_probs"] = -torch.rand(padded.batch["responses"].shape, generator=g)
    base = -torch.rand(padded.batch["responses"].shape, generator=g)

    logp_full = base.clone().requires_grad_(True)
    loss_full = _token_mean_policy_loss(padded, logp_full)
    loss_full.backward()

    unpadded = padded.select_idxs(real.numpy())
    logp_real = base[real].clone().requires_grad_(True)
    loss_real = _token_mean_policy_loss(unpadded, logp_real)
    loss_real.backward()

    assert torch.allclose(loss_full, loss_real, atol=1e-7)
    assert torch.allclose(logp_full.grad[real], logp_real.grad, atol=1e-8)
    assert torch.all(logp_full.grad[~real] == 0)

    # verl's agg_loss over the pad rows alone: zero tokens -> the masked sum is exactly zero
    pad_loss_mat = torch.rand(int((~real).sum()), padded.batch["responses"].shape[1])
    pad_mask = padded.batch["response_mask"][~real].float()
    n_real_tokens = padded.batch["response_mask"][real].sum()
    if pad_mask.shape[0]:
        assert agg_loss(pad_loss_mat, pad_mask, "token-mean", batch_num_tokens=n_real_tokens).item() == 0.0
        # and it is what the global token-mean normaliser sees: the global token count excludes pads
        assert padded.batch["response_mask"].sum() == n_real_tokens


def test_filter_roles_keeps_order(step_data):
    _, rows = step_data
    ex = filter_roles(rows, ["executor"])
    assert ex.non_tensor_batch["exec_uid"].tolist() == [f"u{p}/d{j}/e{k}" for p, r, j, k, *_ in SPEC if r == "executor"]


def test_pad_rows_zero_is_identity(step_data):
    _, rows = step_data
    assert pad_rows(rows, 0) is rows


def test_plan_respects_micro_batch_size():
    p = plan_minibatches(9, 2, 2, micro_batch_size=2)
    assert p.padded_rows % (p.num_mini_batches * 2 * 2) == 0
    assert (p.rows_per_mini_batch // 2) % 2 == 0  # per-rank mini-batch is a multiple of the micro-batch
    assert p.rows_per_mini_batch > p.pad_rows
    p = plan_minibatches(1, 8, 4, micro_batch_size=4)  # 1 real row, 32-row unit: still one mini-batch with it
    assert (p.num_mini_batches, p.padded_rows, p.pad_rows) == (1, 32, 31)
