"""``metaagent_designer``: a single-trajectory agent loop for a *stock* verl launch.

verl's own trainer expects one output row per (problem, rollout.n) sample, so the full tree
(designer + executor rows) needs ``MetaAgentRayTrainer``. This loop fits the stock trainer
unchanged: each of the ``rollout.n`` samples of a problem is one design, executed
``metaagent.rollout.num_executions`` times by the same policy, and the returned row is the
designer's with reward = mean execution reward. With ``algorithm.adv_estimator=grpo`` that is
designer-only MetaAgent-X training (executor calls are answered by the policy but not trained)::

    VERL_USE_EXTERNAL_MODULES=verl_metaagent python -m verl.trainer.main_ppo \\
        actor_rollout_ref.rollout.agent.default_agent_loop=metaagent_designer \\
        actor_rollout_ref.rollout.n=4 algorithm.adv_estimator=grpo ...

Designer sampling comes from verl's ``rollout.temperature/top_p`` here (the stock worker's
sampling params); the executor's from ``metaagent.rollout.executor_sampling``.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopMetrics, AgentLoopOutput

from verl_metaagent.clients.token_client import TokenPolicyClient
from verl_metaagent.rollout.config import SamplingConfig, apply_sandbox_settings, load_rollout_config
from verl_metaagent.rollout.grading import make_grader
from verl_metaagent.rollout.tree_runner import TreeRunner
from verl_metaagent.rollout.problems import problem_from_fields

AGENT_LOOP_NAME = "metaagent_designer"


def check_designer_prompt_fits(client: TokenPolicyClient, problem, variant: str, prompt_length: int) -> None:
    """Raise a clear error when the designer prompt is longer than ``data.max_prompt_length``
    (verl would otherwise return an empty response and fail deep inside its agent loop)."""
    from verl_metaagent.rollout.tree_runner import designer_messages

    tokens = len(client.prompt_ids(designer_messages(problem, variant)))
    if tokens > prompt_length:
        raise ValueError(
            f"the designer prompt (metaagent.rollout.prompt_variant={variant}) is {tokens} tokens, longer than "
            f"data.max_prompt_length={prompt_length}. Set data.max_prompt_length>={tokens}"
            + (" or metaagent.rollout.prompt_variant=short (after cold-start SFT)" if variant != "short" else "")
        )


class DesignerAgentLoop(AgentLoopBase):
    """One design per trajectory; reward = mean of its executions' rewards."""

    async def run(self, sampling_params: dict[str, Any], **kwargs) -> AgentLoopOutput:
        step = int(kwargs.get("global_steps", 0) or 0)
        metaagent = self.config.get("metaagent", None) or {}
        apply_sandbox_settings(metaagent.get("sandbox", None))
        cfg = load_rollout_config(metaagent.get("rollout", None))
        cfg = dataclasses.replace(
            cfg,
            num_designs=1,
            designer_sampling=SamplingConfig(
                temperature=float(sampling_params.get("temperature", 1.0)),
                top_p=float(sampling_params.get("top_p", 1.0)),
                top_k=int(sampling_params.get("top_k", -1)),
                repetition_penalty=sampling_params.get("repetition_penalty"),
            ),
            # each of the rollout.n samples of a problem shares its uid: a per-trajectory salt
            # keeps their designs distinct
            seed=uuid.uuid4().int & 0x7FFFFFFF,
        )
        problem = problem_from_fields(kwargs, uid=str(kwargs.get("uid", "p")), problem_index=0)
        client = TokenPolicyClient(self.server_manager, self.tokenizer, self.apply_chat_template_kwargs)
        check_designer_prompt_fits(client, problem, cfg.prompt_variant, self.rollout_config.prompt_length)
        runner = TreeRunner(
            cfg,
            client,
            make_grader(self.config),
            prompt_length=self.rollout_config.prompt_length,
            response_length=self.rollout_config.response_length,
            logprobs=bool(sampling_params.get("logprobs", False)),
        )
        tree = await runner.grow(problem)
        design = tree.designs[0]
        if not design.response_ids:
            raise RuntimeError(
                f"the designer returned no tokens for prompt {problem.uid} "
                f"(prompt of {len(design.prompt_ids)} tokens); "
                "check data.max_prompt_length / data.max_response_length against the model's context"
            )
        return AgentLoopOutput(
            prompt_ids=design.prompt_ids,
            response_ids=design.response_ids,
            response_mask=[1] * len(design.response_ids),
            response_logprobs=design.logprobs,
            reward_score=float(design.reward),
            num_turns=2,
            metrics=AgentLoopMetrics(),
            extra_fields={
                "design_pattern": design.pattern,
                "design_valid": bool(design.valid),
                # the policy versions that answered this design's calls: verl's v1 trainer reads them
                # for its staleness bookkeeping and fails on None
                **dict(zip(("min_global_steps", "max_global_steps"), client.weight_version_span(default=step))),
            },
        )
