"""The stock-launch path: the ``metaagent_designer`` agent loop inside verl's AgentLoopBase machinery."""

import os

from hydra import compose, initialize_config_dir

import verl_metaagent

CONFIG_DIR = os.path.join(os.path.dirname(verl_metaagent.__file__), "config")
DESIGN = (
    "<code>```python\nfrom verl_metaagent.design.api import *\n"
    "finish(extract_answer(Agent('solver', 'Add.').ask()))\n```</code>"
)


def _answers():
    # executions alternate right / wrong, so the design's reward is the mean 0.5 when N=2
    state = {"n": 0}

    def respond(prompt: str) -> str:
        if "Design Multi Agent System" in prompt:
            return DESIGN
        state["n"] += 1
        return "\\boxed{5}" if state["n"] % 2 else "\\boxed{6}"

    return respond


async def test_designer_loop_returns_the_design_tokens_and_mean_execution_reward(tiny_model_dir, tiny_tokenizer):
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from verl_metaagent.backends import ScriptedBackend
    from verl_metaagent.rollout.designer_loop import DesignerAgentLoop

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        cfg = compose(
            config_name="metaagent_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={tiny_model_dir}",
                "actor_rollout_ref.rollout.prompt_length=1024",
                "actor_rollout_ref.rollout.response_length=128",
                "metaagent.rollout.num_executions=2",
                "metaagent.rollout.prompt_variant=short",
                "metaagent.rollout.budget.wall_seconds=30",
            ],
        )
    backend = ScriptedBackend(tiny_tokenizer, _answers())
    loop = DesignerAgentLoop(
        trainer_config=DictConfigWrap(cfg),
        server_manager=backend,
        tokenizer=tiny_tokenizer,
        processor=None,
        dataset_cls=RLHFDataset,
        data_config=DictConfigWrap(cfg.data),
    )
    out = await loop.run(
        {"temperature": 1.0, "top_p": 1.0, "logprobs": True},
        raw_prompt=[{"role": "user", "content": "What is 2 + 3?"}],
        data_source="math/demo",
        reward_model={"ground_truth": "5"},
        extra_info={"index": 0},
        uid="p0",
        global_steps=7,
    )
    assert tiny_tokenizer.decode(out.response_ids, skip_special_tokens=True) == DESIGN
    assert "Design Multi Agent System for the Question: What is 2 + 3?" in tiny_tokenizer.decode(out.prompt_ids)
    assert out.response_mask == [1] * len(out.response_ids)
    assert out.reward_score == 0.5
    # verl's v1 trainer reads the policy-version span of every output; the scripted backend reports none,
    # so it is the step the prompt was dispatched for
    assert out.extra_fields == {"design_pattern": "single", "design_valid": True, "min_global_steps": 7,
                                "max_global_steps": 7}
    assert len(backend.calls) == 3  # one design + two executions of one agent call


async def test_designer_prompt_longer_than_max_prompt_length_is_a_clear_error(tiny_model_dir, tiny_tokenizer):
    import pytest

    from verl_metaagent.clients.token_client import TokenPolicyClient
    from verl_metaagent.rollout.designer_loop import check_designer_prompt_fits
    from verl_metaagent.rollout.problems import problem_from_fields

    client = TokenPolicyClient(ScriptedBackendless(), tiny_tokenizer)
    problem = problem_from_fields({"raw_prompt": [{"role": "user", "content": "What is 2 + 3?"}]}, uid="p",
                                  problem_index=0)
    check_designer_prompt_fits(client, problem, "short", 4096)  # fits: no error
    with pytest.raises(ValueError, match=r"data.max_prompt_length=16\b.*metaagent.rollout.prompt_variant=short"):
        check_designer_prompt_fits(client, problem, "full", 16)


class ScriptedBackendless:
    """A server that must never be called (the check only renders the prompt)."""

    async def generate(self, *args, **kwargs):  # pragma: no cover
        raise AssertionError("no LLM call expected")
