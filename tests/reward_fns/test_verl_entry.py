"""reward_fns loads through verl 0.9.1's own custom-reward-function machinery."""

import json
import os

import pytest

verl_reward = pytest.importorskip("verl.trainer.ppo.reward")
from omegaconf import OmegaConf  # noqa: E402


@pytest.mark.parametrize(
    "path", ["pkg://reward_fns", os.path.join(os.path.dirname(__file__), "..", "..", "reward_fns", "__init__.py")])
def test_get_custom_reward_fn(path):
    cfg = OmegaConf.create(
        {"reward": {
            "custom_reward_function": {"path": path, "name": "compute_score", "reward_kwargs": {"timeout": 5.0}}}}
    )
    fn = verl_reward.get_custom_reward_fn(cfg)
    out = fn(data_source="math/aime24", solution_str="... \\boxed{070}", ground_truth="70", extra_info={"index": 1})
    assert out["score"] == 1.0 and out["acc"] is True
    gt = json.dumps({"inputs": ["2\n"], "outputs": ["4\n"]})
    out = fn(data_source="code/apps", solution_str="print(int(input()) * 2)", ground_truth=gt, extra_info={})
    assert out["score"] == 1.0


async def test_async_twin_via_verl():
    cfg = OmegaConf.create(
        {"reward": {"custom_reward_function": {"path": "pkg://reward_fns", "name": "compute_score_async"}}})
    fn = verl_reward.get_custom_reward_fn(cfg)
    out = await fn(data_source="aime25", solution_str="\\boxed{12}", ground_truth="13", extra_info={})
    assert out["score"] == 0.0 and out["acc"] is False
