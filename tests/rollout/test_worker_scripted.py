"""The tree worker through verl's real AgentLoopWorker machinery, with a scripted LLM."""

import asyncio
import os

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

import verl_metaagent

CONFIG_DIR = os.path.join(os.path.dirname(verl_metaagent.__file__), "config")

DESIGN = (
    "<think>simple sum</think><code>```python\n"
    "from verl_metaagent.design.api import *\n"
    "a = Agent('solver', 'Add the numbers.')\n"
    "finish(extract_answer(a.ask()))\n"
    "```</code>"
)


def _responses(prompt: str) -> str:
    if "Design Multi Agent System" in prompt:
        return "I have no code for this." if "9 + 9" in prompt else DESIGN
    if "2 + 3" in prompt:
        return "\\boxed{5}"
    return "\\boxed{7}"  # wrong for 4 + 4


def _config(model_dir):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(
            config_name="metaagent_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={model_dir}",
                "actor_rollout_ref.rollout.prompt_length=512",
                "actor_rollout_ref.rollout.response_length=128",
                "actor_rollout_ref.rollout.calculate_log_probs=True",
                "actor_rollout_ref.rollout.name=cpu",
                "metaagent.rollout.num_designs=2",
                "metaagent.rollout.num_executions=2",
                "metaagent.rollout.prompt_variant=short",
                "metaagent.rollout.budget.wall_seconds=30",
            ],
        )


def _batch(questions, answers):
    from verl.protocol import DataProto

    n = len(questions)
    return DataProto.from_dict(
        non_tensors={
            "raw_prompt": np.array([[{"role": "user", "content": q}] for q in questions] + [None], dtype=object)[:n],
            "data_source": np.array(["math/demo"] * n, dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": a} for a in answers], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(n)], dtype=object),
            "uid": np.array([f"u{i}" for i in range(n)], dtype=object),
        },
        meta_info={"global_steps": 1, "validate": False},
    )


@pytest.mark.slow
def test_three_problems_give_the_expected_rows(tiny_model_dir):
    from transformers import AutoTokenizer

    from verl_metaagent.backends.scripted import ScriptedBackend
    from verl_metaagent.rollout.worker import HierarchicalAgentLoopWorker

    config = _config(tiny_model_dir)
    backend = ScriptedBackend(AutoTokenizer.from_pretrained(tiny_model_dir), _responses)
    worker = HierarchicalAgentLoopWorker(config, backend)
    batch = _batch(["What is 2 + 3?", "What is 4 + 4?", "What is 9 + 9?"], ["5", "8", "18"])
    out = asyncio.run(worker.generate_sequences(batch))
    ntb = out.non_tensor_batch
    roles = list(ntb["role"])
    # per solvable problem: 2 designer rows + 2 designs x 2 executions x 1 call; invalid problem: 2 designer rows
    assert roles == (["designer", "executor", "executor"] * 2) * 2 + ["designer"] * 2
    assert list(ntb["uid"]) == ["u0"] * 6 + ["u1"] * 6 + ["u2"] * 2
    assert list(ntb["design_uid"][:3]) == ["u0/d0"] * 3
    assert list(ntb["exec_uid"][:3]) == ["", "u0/d0/e0", "u0/d0/e1"]
    assert list(ntb["problem_index"]) == [0] * 6 + [1] * 6 + [2] * 2
    rewards = [float(r) for r in ntb["metaagent_reward"]]
    assert rewards == [1.0] * 6 + [0.0] * 6 + [0.0, 0.0]
    assert list(ntb["termination"][-2:]) == ["invalid_design", "invalid_design"]
    assert list(ntb["termination"][1:3]) == ["finished", "finished"]
    # rm_scores carry the row reward on the last response token, as verl's agent loop does
    rm = out.batch["rm_scores"]
    assert rm.sum(dim=1).tolist() == rewards
    # executor rows decode to the agent's context and the logged answer
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    resp = out.batch["responses"][1][out.batch["response_mask"][1].bool()]
    assert tok.decode(resp, skip_special_tokens=True) == "\\boxed{5}"
    prompt = tok.decode(out.batch["prompts"][1][out.batch["attention_mask"][1, :512].bool()])
    assert "Add the numbers." in prompt and "What is 2 + 3?" in prompt
    # seeded from (rollout.seed, step, extra_info.index, design, execution, call): every call its own seed,
    # the designer of problem 0's design 0 the one derive_seed gives, and the trainer's per-run uid plays no part
    from verl_metaagent.rollout.tree import derive_seed

    seeds = [c[2]["seed"] for c in backend.calls]
    assert len(set(seeds)) == len(seeds) == 6 + 8
    assert derive_seed(int(config.metaagent.rollout.seed), 1, "index:0", 0) in seeds
    assert derive_seed(int(config.metaagent.rollout.seed), 1, "index:0", 0, 1, 0) in seeds  # d0, e1, first call
    backend2 = ScriptedBackend(tok, _responses)
    worker2 = HierarchicalAgentLoopWorker(config, backend2)
    rerun = _batch(["What is 2 + 3?", "What is 4 + 4?", "What is 9 + 9?"], ["5", "8", "18"])
    rerun.non_tensor_batch["uid"] = np.array(["another", "run's", "uuids"], dtype=object)
    asyncio.run(worker2.generate_sequences(rerun))
    assert sorted(seeds) == sorted(c[2]["seed"] for c in backend2.calls)
    summary = out.meta_info["metaagent_summary"]
    assert summary["rows"] == {"designer": 6, "executor": 8}
    assert sum(d["valid"] for d in summary["designs"]) == 4
