"""verl glue: the rollout worker and manager that grow design-execute trees.

Select them with::

    actor_rollout_ref.rollout.agent.agent_loop_manager_class=verl_metaagent.rollout.worker.HierarchicalAgentLoopManager

The worker subclasses verl's ``AgentLoopWorker`` and reuses its machinery for everything that
is not tree-specific: every row goes through ``_agent_loop_postprocess`` (padding, attention
mask, position ids, teacher logprobs when distillation is on) and ``_postprocess`` (stacking,
``rm_scores`` on the last response token, ``rollout_log_probs``), and every LLM call goes
through the worker's ``llm_client`` (vLLM / SGLang / our CPU replica) so the trained policy
answers all designer and executor calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Optional

import numpy as np
import ray

from verl.experimental.agent_loop.agent_loop import AgentLoopManager, AgentLoopMetrics, AgentLoopOutput, AgentLoopWorker
from verl.protocol import DataProto
from verl.utils.ray_utils import auto_await
from verl.workers.rollout.llm_server import LLMServerClient

from verl_metaagent import contract
from verl_metaagent.clients.token_client import TokenPolicyClient
from verl_metaagent.rollout.config import RolloutTreeConfig, SamplingConfig, apply_sandbox_settings, load_rollout_config
from verl_metaagent.rollout.grading import code_test_runner_factory, make_grader
from verl_metaagent.rollout.rows import RowSpec, RowStats, merge_summaries, rollout_metrics, tree_summary, tree_to_rows
from verl_metaagent.rollout.problems import problem_from_fields
from verl_metaagent.rollout.tree_runner import ProblemSpec, ProblemTree, TreeRunner

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "WARN"))


def problems_from_batch(batch: DataProto) -> list[ProblemSpec]:
    """One :class:`ProblemSpec` per input row (a repeated uid gets a ``#r`` suffix: its own tree)."""
    ntb = batch.non_tensor_batch
    seen: dict[str, int] = {}
    problems = []
    for i in range(len(batch)):
        base_uid = str(ntb[contract.UID][i]) if contract.UID in ntb else f"p{i}"
        rep = seen.get(base_uid, 0)
        seen[base_uid] = rep + 1
        uid = contract.repeat_uid(base_uid, rep)
        problems.append(problem_from_fields({k: v[i] for k, v in ntb.items()}, uid=uid, problem_index=i))
    return problems


def row_to_output(row: RowSpec) -> AgentLoopOutput:
    """A :class:`RowSpec` as verl's ``AgentLoopOutput``; tree ids travel in ``extra_fields``."""
    return AgentLoopOutput(
        prompt_ids=row.prompt_ids,
        response_ids=row.response_ids,
        response_mask=row.response_mask,
        response_logprobs=row.logprobs,
        reward_score=float(row.reward),
        num_turns=row.num_turns,
        metrics=AgentLoopMetrics(),
        extra_fields={
            contract.ROLE: row.role,
            contract.UID: row.uid,
            contract.DESIGN_UID: row.design_uid,
            contract.EXEC_UID: row.exec_uid,
            contract.PROBLEM_INDEX: int(row.problem_index),
            contract.DATA_SOURCE: row.data_source,
            contract.REWARD: float(row.reward),
            contract.TERMINATION: row.termination,
            contract.AGENT: row.agent,
            contract.DESIGN_PATTERN: row.pattern,
            contract.ROWLESS_EXECUTIONS: [list(item) for item in row.rowless_executions],
        },
    )


class RoleLLMClients(LLMServerClient):
    """The executor's ``LLMServerClient`` that also carries the designer's (``metaagent.parameters=separate``).

    Built by the trainer with ``executor_manager.get_client(client_cls=RoleLLMClients,
    designer_client=designer_manager.get_client())`` and handed to the agent-loop workers as their
    ``llm_client``. Everything verl's base classes do with ``llm_client`` (``generate``, tracing) goes
    to the executor's replicas; :meth:`HierarchicalAgentLoopWorker.designer_policy_client` unpacks
    :attr:`designer` so designer generations go to the designer's replicas. Picklable (Ray handles).
    """

    def __init__(self, config, load_balancer_handle=None, *, designer_client: LLMServerClient, **kwargs):
        super().__init__(config, load_balancer_handle, **kwargs)
        self.designer = designer_client


class HierarchicalAgentLoopWorker(AgentLoopWorker):
    """An ``AgentLoopWorker`` whose ``generate_sequences`` grows one M x N tree per input problem.

    Input: verl's generation batch, one row per problem (``raw_prompt``, ``data_source``,
    ``reward_model``, ``extra_info``, ``uid``). Output: one row per designer sample and per
    executor sample (docs/architecture.md, "Rollout rows"); ``meta_info['metaagent_summary']``
    carries per-design/per-execution stats for the manager's metrics.
    """

    def __init__(self, config, llm_client, teacher_client=None, reward_loop_worker_handles=None):
        super().__init__(config, llm_client, teacher_client, reward_loop_worker_handles)
        metaagent = config.get("metaagent", None) or {}
        apply_sandbox_settings(metaagent.get("sandbox", None))
        self.tree_config: RolloutTreeConfig = load_rollout_config(metaagent.get("rollout", None))
        self.grader = make_grader(config)
        self._semaphore: Optional[asyncio.Semaphore] = None
        self._semaphore_loop: Optional[asyncio.AbstractEventLoop] = None
        self._test_runner_factory = code_test_runner_factory()

    def _val_sampling(self) -> SamplingConfig:
        val = self.rollout_config.val_kwargs
        return SamplingConfig(temperature=float(val.temperature), top_p=float(val.top_p), top_k=int(val.top_k))

    def execution_semaphore(self) -> asyncio.Semaphore:
        """The worker's bound on concurrent executions (one per event loop: an ``asyncio.Semaphore``
        belongs to the loop it first waits on)."""
        loop = asyncio.get_running_loop()
        if self._semaphore is None or self._semaphore_loop is not loop:
            self._semaphore = asyncio.Semaphore(self.tree_config.max_concurrent_executions)
            self._semaphore_loop = loop
        return self._semaphore

    def policy_client(self) -> TokenPolicyClient:
        """A client over the worker's LLM servers (the trained policy answers every call; with separate
        parameters, the executor policy: every agent call)."""
        return TokenPolicyClient(self.llm_client, self.tokenizer,
                                 self.config.data.get("apply_chat_template_kwargs", {}))

    def designer_policy_client(self) -> Optional[TokenPolicyClient]:
        """A client over the designer policy's servers when the trainer gave the worker a
        :class:`RoleLLMClients` (``metaagent.parameters=separate``); None when one policy plays both roles."""
        designer = getattr(self.llm_client, "designer", None)
        if designer is None:
            return None
        return TokenPolicyClient(designer, self.tokenizer, self.config.data.get("apply_chat_template_kwargs", {}))

    def tree_runner(
        self, client: TokenPolicyClient, *, step: int, validate: bool,
        designer_client: Optional[TokenPolicyClient] = None
    ) -> TreeRunner:
        """A :class:`TreeRunner` for one step (training or validation) with this worker's settings
        (``designer_client``: the designer policy when it is not ``client``)."""
        return TreeRunner(
            self.tree_config,
            client,
            self.grader,
            prompt_length=self.rollout_config.prompt_length,
            response_length=self.rollout_config.response_length,
            step=step,
            validate=validate,
            val_sampling=self._val_sampling() if validate else None,
            test_runner_factory=self._test_runner_factory,
            logprobs=bool(self.rollout_config.calculate_log_probs),
            execution_semaphore=self.execution_semaphore(),
            mask_faults=True,
            designer_client=designer_client,
        )

    def tree_rows(self, tree: ProblemTree, validate: bool, stats: RowStats) -> list[RowSpec]:
        """One tree's training rows (validation: one row per problem), with this worker's length limits."""
        return tree_to_rows(
            tree,
            prompt_length=self.rollout_config.prompt_length,
            response_length=self.rollout_config.response_length,
            merge_multi_turn=self.tree_config.merge_multi_turn,
            max_rows_per_execution=self.tree_config.max_executor_rows_per_execution,
            validate=validate,
            stats=stats,
        )

    async def generate_sequences(self, batch: DataProto) -> DataProto:
        validate = bool(batch.meta_info.get("validate", False))
        step = int(batch.meta_info.get("global_steps", -1))
        runner = self.tree_runner(
            self.policy_client(), step=step, validate=validate, designer_client=self.designer_policy_client()
        )
        started = time.monotonic()
        problems = problems_from_batch(batch)
        trees: list[ProblemTree] = list(await asyncio.gather(*(runner.grow(p) for p in problems)))
        rows, stats = self._rows(trees, validate)
        outputs = [row_to_output(row) for row in rows]
        raw_prompts = [row.messages for row in rows]
        internal = await asyncio.gather(
            *(self._agent_loop_postprocess(out, validate, raw_prompt=raw) for out, raw in zip(outputs, raw_prompts))
        )
        data = self._postprocess(list(internal), input_non_tensor_batch=None, validate=validate)
        summary = tree_summary(trees, rows, stats)
        summary["seconds"] = time.monotonic() - started
        data.meta_info[contract.SUMMARY] = summary
        return data

    def _rows(self, trees: list[ProblemTree], validate: bool) -> tuple[list[RowSpec], RowStats]:
        stats = RowStats()
        rows: list[RowSpec] = []
        for tree in trees:
            rows += self.tree_rows(tree, validate, stats)
        return rows, stats


def split_indices(n: int, parts: int) -> list[np.ndarray]:
    """Contiguous, near-equal index chunks (whole problems per worker; any ``n``)."""
    return [chunk for chunk in np.array_split(np.arange(n), parts)]


class HierarchicalAgentLoopManager(AgentLoopManager):
    """verl ``AgentLoopManager`` that dispatches whole problems to :class:`HierarchicalAgentLoopWorker`\\ s.

    Unlike the stock manager, the output has a variable number of rows per input row; the
    trainer (``MetaAgentRayTrainer``) joins prompt data per row through ``problem_index``
    (index into the batch passed here). Tree metrics are returned in
    ``meta_info['metaagent_metrics']``.
    """

    def __init__(self, config, llm_client, teacher_client=None, reward_loop_worker_handles=None):
        self.agent_loop_workers_class = ray.remote(HierarchicalAgentLoopWorker)
        super().__init__(config, llm_client, teacher_client, reward_loop_worker_handles)
        metaagent = config.get("metaagent", None) or {}
        load_rollout_config(metaagent.get("rollout", None))  # fail at start-up, in the driver, on bad config

    @auto_await
    async def generate_sequences(self, prompts: DataProto) -> DataProto:  # type: ignore[override]
        """Grow the trees of all problems in ``prompts`` (one row per problem) across the workers."""
        return await _generate_tree_batch(self.agent_loop_workers, prompts)


async def _generate_tree_batch(workers: list, prompts: DataProto) -> DataProto:
    started = time.monotonic()
    pieces = [idx for idx in split_indices(len(prompts), len(workers)) if len(idx)]
    refs = []
    for worker, idx in zip(workers, pieces):
        chunk = prompts.select_idxs(idx)
        chunk.meta_info = dict(prompts.meta_info)
        refs.append(worker.generate_sequences.remote(chunk))
    outputs = list(await asyncio.gather(*refs))
    for idx, out in zip(pieces, outputs):  # problem_index: position in this worker's chunk -> in `prompts`
        out.non_tensor_batch[contract.PROBLEM_INDEX] = idx[
            out.non_tensor_batch[contract.PROBLEM_INDEX].astype(np.int64)]
    summaries = [out.meta_info.pop(contract.SUMMARY) for out in outputs]
    for out in outputs:
        out.meta_info.pop("metrics", None)
    output = DataProto.concat(outputs)
    metrics = rollout_metrics(merge_summaries(summaries))
    metrics["metaagent/rollout/seconds"] = time.monotonic() - started
    output.meta_info[contract.METRICS] = metrics
    output.meta_info["timing"] = {"agent_loop/generate_sequences/max": max(s["seconds"] for s in summaries)}
    return output
