"""verl glue for the v1 trainer: design-execute trees written into verl's TransferQueue.

verl 0.9.1's v1 trainer (``trainer.use_v1=true``) does not receive rollout rows from the agent-loop
manager: the manager only *dispatches* prompts, and each worker puts its finished trajectories
into TransferQueue (TQ) under keys ``{uid}_{session_id}_{index}``, then marks the prompt
``finished``; the trainer's replay buffer collects every key of a finished prompt. That is the
shape a tree needs (a variable number of rows per problem), so this module is what
``MetaAgentTrainer`` (``trainer.v1.trainer_mode=metaagent``) rolls out with:

* :class:`TreeAgentLoopWorkerTQ`: per prompt, a background task grows the M x N tree (the same
  :class:`~verl_metaagent.rollout.tree_runner.TreeRunner` as the legacy path), flattens it into
  rows (:func:`~verl_metaagent.rollout.rows.tree_to_rows`) and puts each row into TQ with the
  fields verl's stock ``AgentLoopWorkerTQ`` writes (so verl's log-prob, update, padding and metric
  code read them unchanged) plus our row ids in ``extra_fields``;
* :class:`TreeAgentLoopManagerTQ`: verl's ``AgentLoopManagerTQ`` with that worker.

Keys: ``session_id`` is the design index ``j`` and ``index`` numbers the rows of that design's
subtree (0 = the designer row, then its executor rows in call order), so a session is one design.
The first row of a problem also carries the tree's summary (``extra_fields['metaagent_summary']``)
from which the trainer logs ``metaagent/rollout/*``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import ray
import torch

from verl.experimental.agent_loop.agent_loop import AgentLoopOutput
from verl.trainer.ppo.v1.agent_loop_tq import AgentLoopManagerTQ

from verl_metaagent import contract
from verl_metaagent.rollout.config import load_rollout_config
from verl_metaagent.rollout.rows import RowSpec, RowStats, tree_summary
from verl_metaagent.rollout.problems import problem_from_fields
from verl_metaagent.rollout.worker import HierarchicalAgentLoopWorker, row_to_output

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "WARN"))



def row_keys(uid: str, rows: list[RowSpec]) -> list[str]:
    """TQ keys ``{uid}_{session}_{index}`` of one problem's rows: session = design index ``j``
    (from ``design_uid`` ``"{uid}/d{j}"``), index = position inside that design's subtree."""
    keys, seen = [], {}
    for row in rows:
        session = contract.design_index(row.design_uid) if row.design_uid else 0
        index = seen.get(session, 0)
        seen[session] = index + 1
        keys.append(contract.tq_key(uid, session, index))
    return keys


def _unbatch(batch: Any) -> list[dict]:
    """One plain dict per prompt of a TQ dispatch batch (a ``TensorDict`` with tensors,
    ``NonTensorStack`` per-row values and ``NonTensorData`` batch-wide values)."""
    from tensordict import NonTensorData, NonTensorStack

    prompts = []
    for i in range(len(batch)):
        prompt = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                prompt[key] = value[i]
            elif isinstance(value, NonTensorStack):
                prompt[key] = value[i].data
            elif isinstance(value, NonTensorData):
                prompt[key] = value.data
        prompts.append(prompt)
    return prompts


class TreeAgentLoopWorkerTQ(HierarchicalAgentLoopWorker):
    """Grows one tree per prompt in the background and writes its rows to TransferQueue."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import transfer_queue as tq

        tq.init()
        self._tasks: set[asyncio.Task] = set()

    async def generate_sequences(self, batch) -> None:  # type: ignore[override]
        """Start one tree per prompt of ``batch`` (verl's v1 dispatch batch) and return at once."""
        validate = bool(batch["validate"]) if "validate" in batch.keys() else False
        batch.pop("validate", None)
        prompts = _unbatch(batch)
        for prompt in prompts:
            prompt.pop("agent_name", None)
            task = asyncio.create_task(self._grow_and_put(prompt, validate))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _grow_and_put(self, prompt: dict, validate: bool) -> None:
        import transfer_queue as tq

        uid = str(prompt[contract.UID])
        partition = "val" if validate else "train"
        step = int(prompt.get(contract.GLOBAL_STEPS, 0) or 0)
        await tq.async_kv_put(key=uid, partition_id=partition, tag={"status": "running"})
        status = "failure"
        try:
            client = self.policy_client()
            designer = self.designer_policy_client()
            runner = self.tree_runner(client, step=step, validate=validate, designer_client=designer)
            problem = problem_from_fields(prompt, uid=uid, problem_index=0)
            tree = await runner.grow(problem)
            stats = RowStats()
            rows = self.tree_rows(tree, validate, stats)
            if rows:
                summary = tree_summary([tree], rows, stats)
                span = client.weight_version_span(default=step)
                # with separate parameters each row carries the versions of the policy that wrote it
                spans = {contract.ROLE_DESIGNER: designer.weight_version_span(default=step)} if designer else {}
                await self._put_rows(uid, rows, prompt, partition, summary, span, spans)
            status = "finished"
        except Exception:  # one problem's failure must not end the step; verl counts failed groups
            logger.exception("metaagent: growing the tree of prompt %s failed", uid)
        await tq.async_kv_put(key=uid, partition_id=partition, tag={"status": status})

    async def _put_rows(
        self,
        uid: str,
        rows: list[RowSpec],
        prompt: dict,
        partition: str,
        summary: dict,
        span: tuple[int, int],
        role_spans: dict[str, tuple[int, int]] | None = None,
    ) -> None:
        """Put one problem's rows into TQ; ``span`` (``role_spans[row.role]`` when given) is the
        ``(min, max)`` policy version of the row's calls."""
        import transfer_queue as tq
        from verl.utils.tensordict_utils import list_of_dict_to_tensordict

        keys = row_keys(uid, rows)
        fields, tags = [], []
        for i, (key, row) in enumerate(zip(keys, rows)):
            output = row_to_output(row)
            row_span = (role_spans or {}).get(row.role, span)
            output.extra_fields[contract.MIN_GLOBAL_STEPS], output.extra_fields[contract.MAX_GLOBAL_STEPS] = row_span
            if i == 0:
                output.extra_fields[contract.SUMMARY] = summary
            field, tag = self._tq_record(output, prompt, session_id=contract.split_tq_key(key)[1])
            fields.append(field)
            tags.append(tag)
        await tq.async_kv_batch_put(keys=keys, fields=list_of_dict_to_tensordict(fields), tags=tags,
                                    partition_id=partition)

    def _tq_record(self, output: AgentLoopOutput, prompt: dict, *, session_id: int) -> tuple[dict, dict]:
        """The TQ value and tag of one row, with the fields verl's ``AgentLoopWorkerTQ`` writes."""
        prompts = torch.tensor(output.prompt_ids, dtype=torch.int64)
        responses = torch.tensor(output.response_ids, dtype=torch.int64)
        input_ids = torch.cat([prompts, responses], dim=0)
        attention_mask = torch.ones_like(input_ids)
        multi_modal_inputs = self._compute_multi_modal_inputs(output, input_ids)
        position_ids = self._compute_position_ids(
            input_ids.unsqueeze(0), attention_mask.unsqueeze(0), multi_modal_inputs
        ).squeeze(0)
        field = output.as_dict()
        field.update(prompt)
        field["session_id"] = session_id
        field.pop("multi_modal_data", None)
        field["loss_mask"] = field["response_mask"]
        field["input_ids"] = input_ids
        field["position_ids"] = position_ids
        field["multi_modal_inputs"] = multi_modal_inputs
        prompt_len, response_len = int(prompts.numel()), int(responses.numel())
        tag = {
            "status": "success",
            "prompt_len": prompt_len,
            "response_len": response_len,
            "seq_len": prompt_len + response_len,
            contract.GLOBAL_STEPS: prompt.get(contract.GLOBAL_STEPS),
            contract.MIN_GLOBAL_STEPS: output.extra_fields[contract.MIN_GLOBAL_STEPS],
            contract.MAX_GLOBAL_STEPS: output.extra_fields[contract.MAX_GLOBAL_STEPS],
            contract.ROLE: output.extra_fields[contract.ROLE],
        }
        return field, tag


class TreeAgentLoopManagerTQ(AgentLoopManagerTQ):
    """verl's ``AgentLoopManagerTQ`` whose workers grow design-execute trees (see module docstring).

    Selected automatically by ``trainer.v1.trainer_mode=metaagent``, or explicitly with
    ``+actor_rollout_ref.rollout.agent.agent_loop_manager_class=verl_metaagent.rollout.worker_tq.TreeAgentLoopManagerTQ``
    (verl's config has no such key by default, hence the ``+``).
    """

    def __init__(self, config, *args, **kwargs):
        super().__init__(config, *args, **kwargs)
        self.agent_loop_workers_class = ray.remote(TreeAgentLoopWorkerTQ)
        metaagent = config.get("metaagent", None) or {}
        load_rollout_config(metaagent.get("rollout", None))  # fail at start-up on a bad config


__all__ = ["TreeAgentLoopWorkerTQ", "TreeAgentLoopManagerTQ", "row_keys"]
