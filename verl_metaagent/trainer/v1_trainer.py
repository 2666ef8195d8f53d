"""``MetaAgentTrainer``: MetaAgent-X as a mode of verl 0.9.1's v1 trainer (``trainer.v1.trainer_mode=metaagent``).

A stock launch selects it with one setting::

    VERL_USE_EXTERNAL_MODULES=verl_metaagent python -m verl.trainer.main_ppo \\
        trainer.v1.trainer_mode=metaagent algorithm.adv_estimator=metaagent \\
        metaagent.rollout.num_designs=4 metaagent.rollout.num_executions=4 ...

It is verl's synchronous v1 trainer (``PPOTrainerSync``: replay buffer, TransferQueue batches,
weight sync after each step, checkpoints, validation, tracker) with only the step body changed:

1. the replay buffer samples the step's prompts; every row of their trees comes with them (the
   rollout, :class:`~verl_metaagent.rollout.worker_tq.TreeAgentLoopManagerTQ`, writes a variable
   number of rows per problem; rewards are already on the rows, so no reward pass runs);
2. :func:`~verl_metaagent.trainer.step_plan.plan_step` computes the hierarchical advantages over
   all sampled rows, picks the rows of the roles trained in this phase and splits them into update
   passes (one per role by default, as the release does);
3. per pass, verl's own pieces run on the pass's keys: ``_balance_batch`` (which pads with verl's
   zero-loss synthetic rows to our mini-batch plan), ``_compute_old_log_prob``, the reference pass,
   our ``_compute_advantage`` (writes the planned advantages; pad rows get 0) and ``_update_actor``
   with ``metaagent.actor_update.rows_per_mini_batch`` rows per optimizer step;
4. untrained rows are cleared from TransferQueue; ``metaagent/*`` metrics go to verl's tracker.

Not supported (rejected at start by :func:`check_v1_features`, naming the key): a critic, KL in
the reward, a colocated reward model (rewards come from the tree), ``parameter_sync_step > 1``.

``metaagent.parameters=separate`` (the ablation, :mod:`verl_metaagent.trainer.separate_params`):
a second actor worker group, rollout replicas and weight sync for the designer; each pass trains
its role's policy; only the policies in phase are synced; both are checkpointed and resumed.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Optional

from omegaconf import OmegaConf, open_dict

from verl_metaagent import contract
from verl_metaagent.config.schema import MetaAgentConfig, validate_run_config
from verl_metaagent.trainer import separate_params as sep
from verl_metaagent.trainer.step_plan import SampledRow, StepPlan, mini_batches_for, plan_step
from verl_metaagent.utils.config_utils import ConfigError, require

logger = logging.getLogger(__name__)
logger.setLevel(os.getenv("VERL_LOGGING_LEVEL", "INFO"))

TRAINER_MODE = "metaagent"
ASYNC_TRAINER_MODE = "metaagent_colocate_async"
TRAINER_MODES = (TRAINER_MODE, ASYNC_TRAINER_MODE)
MANAGER_FQN = "verl_metaagent.rollout.worker_tq.TreeAgentLoopManagerTQ"
LEGACY_MANAGER_FQN = "verl_metaagent.rollout.worker.HierarchicalAgentLoopManager"


def prepare_v1_config(config: Any) -> MetaAgentConfig:
    """Fill the mode's own rollout manager when unset and run every start-up check.

    ``actor_rollout_ref.rollout.agent.agent_loop_manager_class`` unset (verl's default) becomes
    :data:`MANAGER_FQN`; the legacy DataProto manager is replaced by it (it cannot feed the v1
    trainer); any other class must subclass it.

    Raises:
        ConfigError: naming the key and the fix.
    """
    agent = config.actor_rollout_ref.rollout.agent
    manager = str(agent.get("agent_loop_manager_class", None) or "")
    if manager in ("", LEGACY_MANAGER_FQN):
        with open_dict(agent):
            agent.agent_loop_manager_class = MANAGER_FQN
    elif manager != MANAGER_FQN:
        from verl.utils.import_utils import load_class_from_fqn

        from verl_metaagent.rollout.worker_tq import TreeAgentLoopManagerTQ

        cls = load_class_from_fqn(manager, "AgentLoopManager")
        require(
            isinstance(cls, type) and issubclass(cls, TreeAgentLoopManagerTQ),
            "actor_rollout_ref.rollout.agent.agent_loop_manager_class",
            f"is {manager}, which does not write design-execute trees to TransferQueue",
            f"leave it unset (trainer.v1.trainer_mode={TRAINER_MODE} uses {MANAGER_FQN}) or subclass that class",
        )
    meta = validate_run_config(config)
    check_v1_features(config)
    return meta


def check_critic_free(config: Any, trainer: str) -> None:
    """No KL-in-reward and no critic: both MetaAgent-X trainers compute advantages from the tree's rewards."""
    require(
        not bool(config.algorithm.get("use_kl_in_reward", False)),
        "algorithm.use_kl_in_reward",
        f"is not supported by {trainer} (advantages are computed from the tree's rewards)",
        "set algorithm.use_kl_in_reward=false (use actor_rollout_ref.actor.use_kl_loss for a KL term)",
    )
    critic = config.get("critic", {}) or {}
    require(
        not bool(critic.get("enable", False)),
        "critic.enable",
        "must be false: the metaagent estimator is critic-free",
        "set critic.enable=false",
    )


def check_v1_features(config: Any) -> None:
    """Reject verl features this trainer does not drive (the error names the key and the fix)."""
    check_critic_free(config, "the metaagent trainer")
    reward_model = OmegaConf.select(config, "reward.reward_model.enable")
    require(
        not bool(reward_model),
        "reward.reward_model.enable",
        "must be false: executions are graded by reward_fns (or reward.custom_reward_function) inside the rollout",
        "set reward.reward_model.enable=false",
    )
    mode = str(OmegaConf.select(config, "trainer.v1.trainer_mode") or TRAINER_MODE)
    sync_steps = OmegaConf.select(config, f"trainer.v1.{mode}.parameter_sync_step")
    require(
        sync_steps in (None, 1),
        f"trainer.v1.{mode}.parameter_sync_step",
        f"must be 1 for the metaagent trainer (one phase-filtered update per step), got {sync_steps}",
        f"remove trainer.v1.{mode}.parameter_sync_step",
    )


@contextmanager
def actor_mini_batch_rows(config: Any, rows: int):
    """During the block the actor's ``ppo_mini_batch_size`` is ``rows`` (``rollout.n`` is 1), which verl's
    ``_update_actor`` (v1 and legacy) sends to the workers as the global mini-batch size in rows."""
    actor = config.actor_rollout_ref.actor
    saved = actor.ppo_mini_batch_size
    with open_dict(actor):
        actor.ppo_mini_batch_size = rows
    try:
        yield
    finally:
        with open_dict(actor):
            actor.ppo_mini_batch_size = saved


def _sampled_rows(keys: list[str], tags: list[dict], extra_fields: list[dict]) -> tuple[list[SampledRow], list[dict]]:
    """:class:`SampledRow` per key (pad rows as ``role='pad'``) and the trees' rollout summaries."""
    rows, summaries = [], []
    for key, tag, extra in zip(keys, tags, extra_fields):
        extra = getattr(extra, "data", extra) if not isinstance(extra, dict) else extra
        extra = extra if isinstance(extra, dict) else {}
        if contract.SUMMARY in extra and extra[contract.SUMMARY]:
            summaries.append(extra[contract.SUMMARY])
        if tag.get("is_padding", False) or contract.ROLE not in extra:
            rows.append(SampledRow(key=key, role=contract.ROLE_PAD, uid="", design_uid="", exec_uid="", reward=0.0))
            continue
        rows.append(
            SampledRow(
                key=key,
                role=str(extra[contract.ROLE]),
                uid=str(extra.get(contract.UID) or contract.split_tq_key(key)[0]),
                design_uid=str(extra.get(contract.DESIGN_UID, "") or ""),
                exec_uid=str(extra.get(contract.EXEC_UID, "") or ""),
                reward=float(extra.get(contract.REWARD, 0.0)),
                data_source=str(extra.get(contract.DATA_SOURCE, "") or ""),
                generated_at=int(tag.get(contract.GLOBAL_STEPS) or 0),
                rowless_executions=tuple((str(e), float(r)) for e, r in (extra.get(contract.ROWLESS_EXECUTIONS) or ())),
            )
        )
    return rows, summaries


def _policy_versions(tags: list[dict]) -> dict[str, float]:
    """``metaagent/policy_version/{role}``: the oldest policy version (verl ``global_steps`` of the
    serving weights) that answered a sampled row of the role. With separate parameters the frozen
    policy's replicas report the step of their last sync."""
    out: dict[str, float] = {}
    for role in contract.TRAINED_ROLES:
        versions = [t.get(contract.MIN_GLOBAL_STEPS) for t in tags if t.get(contract.ROLE) == role]
        versions = [int(v) for v in versions if v is not None]
        if versions:
            out[f"metaagent/policy_version/{role}"] = float(min(versions))
    return out


def register(v1_module) -> None:
    """Register the trainer modes ``metaagent`` (sync) and ``metaagent_colocate_async`` (idempotent; run by
    the lazy hook when ``verl.trainer.ppo.v1`` is imported)."""
    registry = v1_module.trainer_base.TRAINER_REGISTRY
    for mode, cls in _trainer_classes().items():
        if registry.get(mode) is not cls:
            v1_module.register_trainer(mode)(cls)


_TRAINER_CLASSES: Optional[dict[str, type]] = None


def _trainer_classes() -> dict[str, type]:
    """Build the trainer classes on first use (they subclass verl's, so verl must be importable)."""
    global _TRAINER_CLASSES
    if _TRAINER_CLASSES is None:
        _TRAINER_CLASSES = _define_trainers()
    return _TRAINER_CLASSES


def _define_trainers() -> dict[str, type]:
    import torch
    import transfer_queue as tq
    from tensordict import TensorDict
    from transfer_queue import KVBatchMeta

    from verl.checkpoint_engine import CheckpointEngineManager
    from verl.protocol import DataProto
    from verl.single_controller.ray import RayClassWithInitArgs, RayWorkerGroup
    from verl.trainer.ppo.utils import Role
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.rollout.llm_server import LLMServerManager
    from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_and_add_to_batch
    from verl.trainer.ppo.v1.trainer_colocate_async import PPOTrainerColocateAsync
    from verl.trainer.ppo.v1.trainer_sync import PPOTrainerSync
    from verl.utils.debug import marked_timer
    from verl.workers.utils.padding import response_to_nested

    from verl_metaagent.rollout.faults import check_fault_share
    from verl_metaagent.rollout.rows import merge_summaries, rollout_metrics
    from verl_metaagent.trainer.batch_assembly import MiniBatchPlan, plan_minibatches

    class SecondWorkerGroup(RayWorkerGroup):
        """A ``RayWorkerGroup`` for a second group on a pool that already hosts one (the designer's actor).

        verl looks up the group's torch.distributed master with a task that asks for one CPU on the
        pool's first bundle; once the first group lives there the bundle has less than one CPU left and
        the lookup waits forever (on the cpu platform a bundle is one CPU). This lookup asks for none."""

        def _get_master_addr_port(self, pg, bundle_index=0, master_port_range=None):
            import ray
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy
            from verl.single_controller.ray.base import get_master_addr_port

            strategy = PlacementGroupSchedulingStrategy(placement_group=pg, placement_group_bundle_index=bundle_index)
            self._master_addr, self._master_port = ray.get(
                get_master_addr_port.options(num_cpus=0, scheduling_strategy=strategy).remote(
                    master_port_range=master_port_range)
            )

    class MetaAgentSteps:
        """The MetaAgent-X step, mixed into one of verl's v1 trainers (module docstring).

        ``base_trainer_mode`` is the verl mode whose semantics the trainer keeps (replay buffer,
        dataloader refill, checkpointed TransferQueue state, ``trainer.v1.<mode>`` knobs)."""

        base_trainer_mode = "sync"

        def _build_replay_buffer(self):
            # verl keys its sync/async behaviour on the mode *name*; ours keeps the base mode's
            self.trainer_mode = self.base_trainer_mode
            return super()._build_replay_buffer()

        def __init__(self, config):
            self.metaagent: MetaAgentConfig = prepare_v1_config(config)
            super().__init__(config)
            self._advantages: dict[str, float] = {}
            self._pass_plan: Optional[MiniBatchPlan] = None
            actor = config.actor_rollout_ref.actor
            print(
                f"[metaagent] trainer mode {config.trainer.v1.trainer_mode}: "
                f"{self.metaagent.actor_update.rows_per_mini_batch} rows per optimizer step "
                f"(metaagent.actor_update.rows_per_mini_batch), {self.metaagent.actor_update.role_passes} role passes; "
                f"actor_rollout_ref.actor.ppo_mini_batch_size={actor.ppo_mini_batch_size} is not used by this trainer",
                flush=True,
            )

        # ---------------------------------------------------------------- config-derived sizes
        def _passes_per_step(self) -> int:
            """Actor updates per step at most (for the LR scheduler's horizon): 2 with separate role
            passes in ``simultaneous`` mode, else 1 (also with separate parameters: each policy is
            updated at most once per step)."""
            if self._separate():
                return 1
            both = self.metaagent.phase.mode == "simultaneous"
            return 2 if both and self.metaagent.actor_update.role_passes == "separate" else 1

        def _init_dataloader(self):
            super()._init_dataloader()
            passes = self._passes_per_step()
            if passes > 1 and OmegaConf.select(self.config, "actor_rollout_ref.actor.optim"):
                with open_dict(self.config):
                    optim = self.config.actor_rollout_ref.actor.optim
                    optim.total_training_steps = int(optim.total_training_steps) * passes

        def _actor_dp_size(self) -> int:
            wg = self.actor_rollout_wg
            if "actor" not in wg._dispatch_info:
                wg._dispatch_info["actor"] = wg._query_dispatch_info("actor")
            return max(wg._dispatch_info["actor"]) + 1

        def _micro_batch_size(self) -> int:
            actor = self.config.actor_rollout_ref.actor
            if actor.get("use_dynamic_bsz", False):
                return 1
            return int(actor.get("ppo_micro_batch_size_per_gpu", None) or 1)

        # ---------------------------------------------------------------- separate parameters
        def _separate(self) -> bool:
            return self.metaagent.parameters == sep.SEPARATE

        def _setup(self):
            """verl's set-up; with separate parameters also the designer's worker group, replicas and
            weight sync, then the checkpoint load of both policies."""
            if not self._separate():
                return super()._setup()
            sep.check_rollout_engine(self.config)
            self._defer_checkpoint_load = True
            try:
                super()._setup()
            finally:
                self._defer_checkpoint_load = False
            self._setup_designer()
            self._load_checkpoint()

        def _setup_designer(self) -> None:
            """The designer policy: a second ``ActorRolloutRefWorker`` group on the actor's resource pool
            (own optimizer / LR scheduler), its hybrid replicas (ranks after the executor's, found by its
            workers through ``VERL_METAAGENT_REPLICA_RANK_OFFSET``) and its own weight-sync manager."""
            actor_role = next(r for r in (Role.ActorRolloutRef, Role.ActorRollout) if r in self.role_worker_mapping)
            pool = self.resource_pool_manager.get_resource_pool(actor_role)
            offset = len(self.llm_server_manager.get_replicas())
            worker_cls = RayClassWithInitArgs(
                cls=self.role_worker_mapping[actor_role],
                config=self.config.actor_rollout_ref,
                distillation_config=self.config.get("distillation"),
                role=str(actor_role),
            )
            wg = SecondWorkerGroup(
                resource_pool=pool,
                ray_cls_with_init=worker_cls,
                name_prefix=f"metaagent_designer_{os.getpid()}_",
                device_name=self.config.trainer.device,
                worker_env={sep.REPLICA_RANK_OFFSET_ENV: str(offset)},
            )
            wg.init_model()
            manager = LLMServerManager.create(
                config=self.config, worker_group=wg, rollout_resource_pool=pool, start_rank=offset
            )
            engine_config = omega_conf_to_dataclass(self.config.actor_rollout_ref.rollout.checkpoint_engine)
            engine_config.backend = "naive"
            checkpoint_manager = CheckpointEngineManager(config=engine_config, actor_wg=wg,
                                                         replicas=manager.get_replicas())
            checkpoint_manager.sleep_replicas()
            self.designer_actor_wg = wg
            self.designer_llm_server_manager = manager
            self.designer_checkpoint_manager = checkpoint_manager
            print(
                f"[metaagent] metaagent.parameters=separate: designer policy on its own actor worker group and "
                f"{len(manager.get_replicas())} rollout replica(s) (ranks from {offset}); executor policy on verl's "
                f"{offset} replica(s)",
                flush=True,
            )

        def _checkpoint_managers(self) -> dict:
            """role -> weight-sync manager (one shared manager when the policy is shared)."""
            if not self._separate():
                return {contract.ROLE_EXECUTOR: self.checkpoint_manager}
            return {contract.ROLE_EXECUTOR: self.checkpoint_manager,
                    contract.ROLE_DESIGNER: self.designer_checkpoint_manager}

        @contextmanager
        def _policy(self, role: str):
            """During the block verl's actor (and reference) RPCs go to ``role``'s policy."""
            if not self._separate() or role == contract.ROLE_EXECUTOR:
                yield
                return
            saved_actor, saved_ref = self.actor_rollout_wg, getattr(self, "ref_policy_wg", None)
            self.actor_rollout_wg = self.designer_actor_wg
            if saved_ref is not None:
                if saved_ref is not saved_actor:  # refused at start: only a reference inside the actor worker
                    raise RuntimeError(
                        "metaagent.parameters=separate needs the reference model inside the actor worker")
                self.ref_policy_wg = self.designer_actor_wg
            try:
                yield
            finally:
                self.actor_rollout_wg = saved_actor
                if saved_ref is not None:
                    self.ref_policy_wg = saved_ref

        def get_llm_client(self):
            """verl's client of the (executor's) replicas; with separate parameters a
            :class:`~verl_metaagent.rollout.worker.RoleLLMClients` that also carries the designer's."""
            if not self._separate():
                return super().get_llm_client()
            from verl_metaagent.rollout.worker import RoleLLMClients

            return self.llm_server_manager.get_client(
                client_cls=RoleLLMClients, designer_client=self.designer_llm_server_manager.get_client()
            )

        def _synced_policies(self) -> tuple[str, ...]:
            return sep.policies_to_sync(self.global_steps, self.metaagent.phase)

        def on_init_end(self):
            super().on_init_end()  # verl: the (executor's) replicas get the loaded weights
            if self._separate():
                self.designer_checkpoint_manager.update_weights(self.global_steps)

        def on_sample_end(self):
            if not self._separate():
                return super().on_sample_end()
            managers = self._checkpoint_managers()
            for role in self._synced_policies():
                managers[role].sleep_replicas()
            if self.curr_step_profile:
                self._stop_rollout_profiling()

        def on_step_end(self):
            """After the step only the policies of the roles in phase are pushed to their replicas
            (a frozen policy keeps serving the weights of its last sync)."""
            if not self._separate():
                return super().on_step_end()
            managers = self._checkpoint_managers()
            synced = self._synced_policies()
            with marked_timer("update_weights", self.timing_raw, color="red"):
                for role in synced:
                    managers[role].update_weights(self.global_steps)
            self._separate_sync_metrics = {f"metaagent/sync/{role}": float(role in synced) for role in managers}

        def _consume_sync_metrics(self) -> dict:
            metrics = dict(super()._consume_sync_metrics())
            metrics.update(getattr(self, "_separate_sync_metrics", None) or {})
            self._separate_sync_metrics = {}
            return metrics

        # ---------------------------------------------------------------- the step
        def _step_once(self, metrics: dict, timing_raw: dict, sample_batch_size: int):
            with marked_timer("gen", timing_raw, color="red"):
                self.on_sample_begin()
                sampled, off_policy_metrics = self.replay_buffer.sample(
                    global_steps=self.global_steps, partition_id="train", batch_size=sample_batch_size
                )
                metrics.update(off_policy_metrics)
                self.on_sample_end()

            with marked_timer("adv", timing_raw, color="brown"):
                plan = self._plan(sampled, metrics)
            self._trained_this_step = bool(plan.passes)
            if not plan.passes:
                # nothing to train (an executor phase where every design was invalid, or -- async -- the first
                # step of a phase, whose rows were all dispatched in the previous one): verl's loop logs and
                # clears the step's batch, so hand it the untrained rows
                return sampled
            if plan.untrained_keys:
                tq.kv_clear(keys=plan.untrained_keys, partition_id=sampled.partition_id)

            keys: list[str] = []
            tags: list[dict] = []
            by_key = dict(zip(sampled.keys, sampled.tags))
            for update in plan.passes:
                batch = KVBatchMeta(
                    partition_id=sampled.partition_id,
                    keys=list(update.keys),
                    tags=[by_key[k] for k in update.keys],
                    extra_info={"temperature": self.config.actor_rollout_ref.rollout.temperature},
                )
                pass_metrics: dict = {}
                if self._separate():
                    role = sep.pass_policy(update.roles)
                    with self._policy(role):
                        batch = self._train_pass(batch, pass_metrics, timing_raw)
                    metrics.update(sep.role_actor_metrics(role, pass_metrics))
                else:
                    batch = self._train_pass(batch, pass_metrics, timing_raw)
                metrics.update(pass_metrics)
                if len(plan.passes) > 1:
                    role = "+".join(update.roles)
                    metrics.update({f"metaagent/update/{role}/{k}": v for k, v in pass_metrics.items()})
                keys += batch.keys
                tags += batch.tags
            return KVBatchMeta(partition_id=sampled.partition_id, keys=keys, tags=tags)

        def _plan(self, sampled, metrics: dict) -> StepPlan:
            extra = []
            if sampled.keys:
                data = tq.kv_batch_get(keys=sampled.keys, partition_id=sampled.partition_id,
                                       select_fields=["extra_fields"])
                extra = list(data["extra_fields"])
            rows, summaries = _sampled_rows(sampled.keys, sampled.tags, extra)
            plan = plan_step(
                rows,
                global_step=self.global_steps,
                adv_config=self.metaagent.advantage,
                phase_config=self.metaagent.phase,
                update_config=self.metaagent.actor_update,
            )
            self._advantages = plan.advantages
            metrics.update(plan.metrics)
            metrics.update(_policy_versions(sampled.tags))
            if summaries:
                merged = merge_summaries(summaries)
                metrics.update(rollout_metrics(merged))
                check_fault_share(
                    sum(bool(e.get("fault")) for e in merged["executions"]),
                    len(merged["executions"]),
                    self.metaagent.rollout.max_infra_fault_share,
                )
            return plan

        def _train_pass(self, batch, metrics: dict, timing_raw: dict):
            """verl's per-batch pipeline on one pass's rows: pad + balance, old log-probs, reference,
            advantages, actor update with this pass's mini-batch plan."""
            update = self.metaagent.actor_update
            self._pass_plan = plan_minibatches(
                len(batch), self._actor_dp_size(), mini_batches_for(len(batch), update), self._micro_batch_size()
            )
            try:
                batch = self._balance_batch(batch, metrics=metrics)
                with marked_timer("old_log_prob", timing_raw, color="blue"):
                    batch = self._compute_old_log_prob(batch, metrics=metrics)
                if self.use_reference_policy:
                    with marked_timer("ref", timing_raw, color="olive"):
                        batch = self._compute_ref_log_prob(batch, metrics=metrics)
                with marked_timer("adv", timing_raw, color="brown"):
                    batch = self._compute_advantage(batch, metrics=metrics)
                if self.config.trainer.critic_warmup <= self.global_steps:
                    with marked_timer("update_actor", timing_raw, color="red"):
                        batch = self._update_actor(batch, metrics=metrics)
                metrics["metaagent/train/num_mini_batches"] = float(self._pass_plan.num_mini_batches)
                metrics["metaagent/train/rows_per_mini_batch"] = float(self._pass_plan.rows_per_mini_batch)
                metrics["metaagent/train/pad_rows"] = float(self._pass_plan.pad_rows)
            finally:
                self._pass_plan = None
            return batch

        def _get_required_batch_multiple(self, dp_size: int) -> int:
            if self._pass_plan is None:
                return super()._get_required_batch_multiple(dp_size)
            # verl pads to a multiple of this; the plan's padded size is that multiple exactly
            return self._pass_plan.padded_rows

        def _compute_advantage(self, batch, metrics: dict):
            """Write the planned per-row advantages (times the response mask) as ``advantages`` and
            ``returns``; verl's synthetic pad rows get 0. Rollout correction runs as in verl's trainer."""
            fields = ["response_mask", "rollout_log_probs", "old_log_probs"]
            data = tq.kv_batch_get(keys=batch.keys, partition_id=batch.partition_id, select_fields=fields)
            response_mask = data["response_mask"]
            padded = DataProto(batch=data.to_padded_tensor())
            scalars = torch.tensor([self._advantages.get(k, 0.0) for k in batch.keys], dtype=torch.float32)
            advantages = scalars.unsqueeze(-1) * padded.batch["response_mask"].to(torch.float32)
            out = {"advantages": response_to_nested(advantages, response_mask)}
            out["returns"] = response_to_nested(advantages.clone(), response_mask)

            corr = self.config.algorithm.get("rollout_correction", None)
            bypass = bool(corr and corr.get("bypass_mode", False))
            if corr is not None and "rollout_log_probs" in padded.batch.keys() and not bypass:
                padded, is_metrics = compute_rollout_correction_and_add_to_batch(padded, corr)
                metrics.update(is_metrics)
                out["response_mask"] = response_to_nested(padded.batch["response_mask"], response_mask)
                if "rollout_is_weights" in padded.batch.keys():
                    out["rollout_is_weights"] = response_to_nested(padded.batch["rollout_is_weights"], response_mask)
            return tq.kv_batch_put(
                keys=batch.keys, partition_id=batch.partition_id, fields=TensorDict(out, batch_size=len(batch))
            )

        def _update_actor(self, batch, metrics: dict):
            if self._pass_plan is None:
                return super()._update_actor(batch, metrics)
            with actor_mini_batch_rows(self.config, self._pass_plan.rows_per_mini_batch):
                return super()._update_actor(batch, metrics)

        def _save_checkpoint(self):
            step_dir = os.path.join(self.config.trainer.default_local_dir, f"global_step_{self.global_steps}")
            # the designer first: verl's save marks the step complete (latest_checkpointed_iteration)
            if self._separate():
                trainer = self.config.trainer
                self.designer_actor_wg.save_checkpoint(
                    sep.actor_checkpoint_dir(step_dir, contract.ROLE_DESIGNER),
                    None if trainer.default_hdfs_dir is None else os.path.join(
                        trainer.default_hdfs_dir, f"global_step_{self.global_steps}",
                        sep.ACTOR_DIRS[contract.ROLE_DESIGNER]),
                    self.global_steps,
                    max_ckpt_to_keep=trainer.get("max_actor_ckpt_to_keep", None),
                )
            from verl_metaagent.trainer.provenance import run_info, write_run_info

            info = run_info(self.metaagent.rollout.prompt_variant, "rl",
                            trainer_mode=self.config.trainer.v1.trainer_mode,
                            global_step=int(self.global_steps), parameters=self.metaagent.parameters)
            roles = (contract.ROLE_EXECUTOR, contract.ROLE_DESIGNER) if self._separate() else (contract.ROLE_EXECUTOR,)
            for role in roles[1:]:
                write_run_info(sep.actor_checkpoint_dir(step_dir, role), dict(info, role=role))
            super()._save_checkpoint()
            write_run_info(os.path.join(step_dir, "actor"),
                           dict(info, role=contract.ROLE_EXECUTOR) if self._separate() else info)

        def _load_checkpoint(self):
            """verl's load (the executor / shared policy from ``actor``), after refusing a checkpoint of the
            other ``metaagent.parameters``; with separate parameters also the designer from ``designer_actor``."""
            if getattr(self, "_defer_checkpoint_load", False):  # separate: after the designer exists
                self.global_steps = 0
                return
            folder = sep.check_resume_config(self.config)
            super()._load_checkpoint()
            if self._separate() and self.global_steps > 0 and folder:
                self.designer_actor_wg.load_checkpoint(
                    local_path=sep.actor_checkpoint_dir(folder, contract.ROLE_DESIGNER),
                    del_local_after_load=self.config.trainer.del_local_ckpt_after_load,
                )
                print("[metaagent] resumed the designer policy from "
                      f"{sep.actor_checkpoint_dir(folder, contract.ROLE_DESIGNER)}", flush=True)

        def _compute_metrics(self, batch, metrics, timing_raw, global_steps, epoch):
            if not getattr(self, "_trained_this_step", True) or len(batch.keys) == 0:  # nothing trained this step
                metrics.update({"training/global_step": global_steps, "training/epoch": epoch})
                metrics.update({f"timing_s/{name}": seconds for name, seconds in timing_raw.items()})
                return
            super()._compute_metrics(batch, metrics, timing_raw, global_steps, epoch)

    class MetaAgentTrainer(MetaAgentSteps, PPOTrainerSync):
        """``trainer.v1.trainer_mode=metaagent``: verl's synchronous v1 trainer with the MetaAgent-X step.
        Construct like any v1 trainer: ``MetaAgentTrainer(config)``; ``init()`` then ``fit(agent_loop_manager)``."""

    class MetaAgentTrainerColocateAsync(MetaAgentSteps, PPOTrainerColocateAsync):
        """``trainer.v1.trainer_mode=metaagent_colocate_async``: verl's colocated async trainer (the next
        batch's trees keep growing -- sandboxed executions included -- while the step trains; in-flight
        LLM requests are paused and resumed with the new weights) with the MetaAgent-X step. Rows are
        trained only in a phase that also trains their role at the step they were dispatched for
        (``step_plan``); knobs under ``trainer.v1.colocate_async`` (``num_warmup_batches``)."""

        base_trainer_mode = "colocate_async"

    classes = {TRAINER_MODE: MetaAgentTrainer, ASYNC_TRAINER_MODE: MetaAgentTrainerColocateAsync}
    for cls in (MetaAgentSteps, *classes.values()):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    return classes


def __getattr__(name: str):
    if name == "MetaAgentTrainer":
        return _trainer_classes()[TRAINER_MODE]
    if name == "MetaAgentTrainerColocateAsync":
        return _trainer_classes()[ASYNC_TRAINER_MODE]
    raise AttributeError(name)


__all__ = [  # noqa: F822 -- the trainer classes come from the module's __getattr__ (built when verl is importable)
    "MetaAgentTrainer", "MetaAgentTrainerColocateAsync", "TRAINER_MODES", "prepare_v1_config", "check_v1_features",
    "register", "TRAINER_MODE", "ConfigError"]
