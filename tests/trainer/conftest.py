"""Fake rollout rows on verl's real DataProto (the row schema of docs/architecture.md)."""

import numpy as np
import pytest
import torch

from verl.protocol import DataProto

PROMPT_LEN, RESP_LEN = 4, 5


def fake_prompts(num_problems: int) -> DataProto:
    """What the trainer's input batch looks like after verl's ``_get_gen_batch`` (one row per problem)."""
    return DataProto.from_dict(
        tensors={"dummy_tensor": torch.zeros(num_problems, 1, dtype=torch.uint8)},
        non_tensors={
            "uid": np.array([f"u{i}" for i in range(num_problems)], dtype=object),
            "data_source": np.array(["math/polaris"] * num_problems, dtype=object),
            "reward_model": np.array([{"ground_truth": str(i)} for i in range(num_problems)], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(num_problems)], dtype=object),
        },
    )


def fake_rows(spec, seed=0) -> DataProto:
    """Rows from ``spec``: list of (problem_index, role, design j, execution k or None, reward, response tokens)."""
    g = torch.Generator().manual_seed(seed)
    n = len(spec)
    prompts = torch.randint(3, 50, (n, PROMPT_LEN), generator=g)
    responses = torch.randint(3, 50, (n, RESP_LEN), generator=g)
    response_mask = torch.zeros(n, RESP_LEN, dtype=torch.long)
    rm_scores = torch.zeros(n, RESP_LEN)
    for i, (_, _, _, _, reward, length) in enumerate(spec):
        response_mask[i, :length] = 1
        rm_scores[i, length - 1] = reward
    attention_mask = torch.cat([torch.ones(n, PROMPT_LEN, dtype=torch.long), response_mask], dim=1)
    input_ids = torch.cat([prompts, responses], dim=1)
    position_ids = (torch.cumsum(attention_mask, dim=1) - 1).clamp(min=0)
    uid = [f"u{p}" for p, *_ in spec]
    return DataProto.from_dict(
        tensors={
            "prompts": prompts,
            "responses": responses,
            "response_mask": response_mask,
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "position_ids": position_ids,
            "rm_scores": rm_scores,
            "rollout_log_probs": -torch.rand(n, RESP_LEN, generator=g),
        },
        non_tensors={
            "role": np.array([r for _, r, *_ in spec], dtype=object),
            "uid": np.array(uid, dtype=object),
            "design_uid": np.array([f"u{p}/d{j}" for p, _, j, *_ in spec], dtype=object),
            "exec_uid": np.array([("" if k is None else f"u{p}/d{j}/e{k}") for p, _, j, k, *_ in spec], dtype=object),
            "problem_index": np.array([p for p, *_ in spec], dtype=np.int64),
            "data_source": np.array(["math/polaris"] * n, dtype=object),
            "metaagent_reward": np.array([s[4] for s in spec], dtype=np.float64),
            "termination": np.array(["finished" if r == "executor" else "valid" for _, r, *_ in spec], dtype=object),
        },
    )


# problem 0: d0 (e0: 2 calls r=1, e1: 1 call r=0), d1 invalid (format reward 0.0);
# problem 1: d0 (e0: 1 call r=1, e1: 3 calls r=1)  -> 13 rows: 4 designer, 9 executor
SPEC = [
    (0, "designer", 0, None, 0.5, 5),
    (0, "executor", 0, 0, 1.0, 3),
    (0, "executor", 0, 0, 1.0, 2),
    (0, "executor", 0, 1, 0.0, 4),
    (0, "designer", 1, None, 0.0, 2),
    (1, "designer", 0, None, 1.0, 5),
    (1, "executor", 0, 0, 1.0, 1),
    (1, "executor", 0, 1, 1.0, 5),
    (1, "executor", 0, 1, 1.0, 5),
    (1, "executor", 0, 1, 1.0, 2),
    (1, "designer", 1, None, 0.0, 3),
    (1, "executor", 1, 0, 0.0, 4),
    (1, "executor", 1, 1, 1.0, 4),
]


@pytest.fixture
def step_data():
    return fake_prompts(2), fake_rows(SPEC)
