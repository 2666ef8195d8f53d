"""``MetaAgentRayTrainer``: verl's ``RayPPOTrainer`` with a training step for design-execute trees.

What differs from verl 0.9.1's ``RayPPOTrainer.fit`` (everything else is inherited: worker
set-up, validation, checkpoints, log-prob / reference / actor-update RPCs, weight sync):

* the rollout (``HierarchicalAgentLoopManager``) returns a variable number of rows per problem, so
  prompt data is joined per row through ``problem_index`` instead of ``batch.repeat(n).union(...)``;
* advantages come from the ``metaagent`` estimator over the tree ids (computed on all rows, on the
  driver, before log-probs, since they depend only on rewards);
* rows of the role not trained in the current phase are dropped *before* the log-prob passes;
* the remaining rows are padded with zero-weight ``role="pad"`` rows to a multiple of
  ``num_mini_batches x dp_size`` and the actor's mini-batch size is set from the actual row count;
* per-phase / per-role metrics are logged under ``metaagent/*``.

verl's ``fit`` is one long method with no hook between rollout and advantage, so ``fit`` is
re-implemented here (a shorter loop that calls the inherited helpers). Features of the stock loop
that this loop does not drive: REMAX baselines, a critic (``critic.enable``), KL-in-reward,
the global profiler and ``train_dataset.on_batch_end``; :func:`check_trainer_features` rejects
them at start-up.
"""

from __future__ import annotations

import uuid
from pprint import pprint
from typing import Any, Optional

import numpy as np
import torch
from omegaconf import OmegaConf, open_dict
from tqdm import tqdm

from verl import DataProto
from verl.trainer.ppo.core_algos import agg_loss
from verl.trainer.ppo.metric_utils import compute_data_metrics, compute_throughout_metrics, compute_timing_metrics
from verl.trainer.ppo.ray_trainer import RayPPOTrainer
from verl.utils.checkpoint.checkpoint_manager import should_save_ckpt_esi
from verl.utils.debug import marked_timer
from verl.utils.metric import reduce_metrics

from verl_metaagent import contract
from verl_metaagent.config.schema import MetaAgentConfig, num_mini_batches, validate_run_config
from verl_metaagent.trainer.batch_assembly import StepBatch, assemble_step_batch
from verl_metaagent.utils.config_utils import ConfigError, require

LEGACY_MANAGER_FQN = "verl_metaagent.rollout.worker.HierarchicalAgentLoopManager"


def prepare_legacy_config(config: Any) -> None:
    """Fill the legacy path's rollout manager (rows as one ``DataProto``) when unset; reject another."""
    agent = config.actor_rollout_ref.rollout.agent
    manager = str(agent.get("agent_loop_manager_class", None) or "")
    if not manager:
        with open_dict(agent):
            agent.agent_loop_manager_class = LEGACY_MANAGER_FQN
        return
    require(
        manager == LEGACY_MANAGER_FQN,
        "actor_rollout_ref.rollout.agent.agent_loop_manager_class",
        f"is {manager}; the legacy trainer (trainer.use_v1=false) needs rows as one DataProto",
        f"leave it unset (the legacy path uses {LEGACY_MANAGER_FQN}) or use the v1 trainer (trainer.use_v1=true)",
    )


def check_trainer_features(config: Any) -> None:
    """Reject verl features the MetaAgent-X loop does not drive (error names the key and the fix)."""
    from verl_metaagent.trainer.v1_trainer import check_critic_free

    prepare_legacy_config(config)
    check_critic_free(config, "MetaAgentRayTrainer")
    profiler_steps = OmegaConf.select(config, "global_profiler.steps")
    require(
        not profiler_steps,
        "global_profiler.steps",
        "is not supported by MetaAgentRayTrainer",
        "set global_profiler.steps=null",
    )


class MetaAgentRayTrainer(RayPPOTrainer):
    """PPO/GRPO-style trainer for MetaAgent-X (see module docstring). Construct like ``RayPPOTrainer``."""

    def __init__(self, config, *args, **kwargs):
        self.metaagent: MetaAgentConfig = validate_run_config(config)
        check_trainer_features(config)
        super().__init__(config, *args, **kwargs)
        self._mini_batch_rows: Optional[int] = None

    # ------------------------------------------------------------------ step pieces (unit-testable)
    def data_parallel_size(self) -> int:
        """The actor's data-parallel size (from verl's dispatch info)."""
        return self._get_dp_size(self.actor_rollout_wg, "actor")

    def process_rollout(self, prompts: DataProto, rollout_rows: DataProto, dp_size: int) -> StepBatch:
        """Join, advantage, phase filter and padding of one step (no RPCs; see ``batch_assembly``)."""
        return assemble_step_batch(
            prompts,
            rollout_rows,
            global_step=self.global_steps,
            adv_config=self.metaagent.advantage,
            phase_config=self.metaagent.phase,
            dp_size=dp_size,
            num_mini_batches=num_mini_batches(self.config),
            micro_batch_size=self.micro_batch_size(),
        )

    def micro_batch_size(self) -> int:
        """``ppo_micro_batch_size_per_gpu`` of the actor, or 1 with ``use_dynamic_bsz`` (rows need not divide)."""
        actor = self.config.actor_rollout_ref.actor
        if actor.get("use_dynamic_bsz", False):
            return 1
        return int(actor.get("ppo_micro_batch_size_per_gpu", None) or 1)

    def _update_actor(self, batch: DataProto) -> DataProto:
        if self._mini_batch_rows is None:
            return super()._update_actor(batch)
        from verl_metaagent.trainer.v1_trainer import actor_mini_batch_rows

        with actor_mini_batch_rows(self.config, self._mini_batch_rows):
            return super()._update_actor(batch)

    def _old_log_probs(self, batch: DataProto, metrics: dict, timing_raw: dict) -> tuple[DataProto, bool]:
        rollout_corr = self.config.algorithm.get("rollout_correction", None)
        bypass = bool(rollout_corr and rollout_corr.get("bypass_mode", False))
        if bypass:
            from verl.trainer.ppo.rollout_corr_helper import apply_bypass_mode

            apply_bypass_mode(
                batch=batch, rollout_corr_config=rollout_corr,
                policy_loss_config=self.config.actor_rollout_ref.actor.policy_loss
            )
            return batch, bypass
        with marked_timer("old_log_prob", timing_raw, color="blue"):
            old, mfu = self._compute_old_log_prob(batch)
            actor_cfg = self.config.actor_rollout_ref.actor
            entropy = agg_loss(
                loss_mat=old.batch["entropys"],
                loss_mask=batch.batch["response_mask"],
                loss_agg_mode=actor_cfg.loss_agg_mode,
                loss_scale_factor=actor_cfg.loss_scale_factor,
            )
            metrics["actor/entropy"] = entropy.detach().item()
            metrics["perf/mfu/actor_infer"] = mfu
            old.batch.pop("entropys")
            batch = batch.union(old)
        if "rollout_log_probs" in batch.batch.keys():
            from verl.utils.debug.metrics import calculate_debug_metrics

            metrics.update(calculate_debug_metrics(batch))
        return batch, bypass

    def train_step(self, batch_dict: dict, metrics: dict, timing_raw: dict, is_last_step: bool) -> StepBatch:
        """Rollout -> rows -> (phase-filtered, padded) update for one step. Mutates ``metrics``/``timing_raw``."""
        prompts = DataProto.from_single_dict(batch_dict)
        prompts.meta_info["temperature"] = self.config.actor_rollout_ref.rollout.temperature
        prompts.non_tensor_batch[contract.UID] = np.array([str(uuid.uuid4()) for _ in range(len(prompts))],
                                                          dtype=object)
        gen_batch = self._get_gen_batch(prompts)
        gen_batch.meta_info["global_steps"] = self.global_steps

        with marked_timer("gen", timing_raw, color="red"):
            rows = self.async_rollout_manager.generate_sequences(gen_batch)
            self.checkpoint_manager.sleep_replicas()
        timing_raw.update(rows.meta_info.pop("timing", {}) or {})
        metrics.update(rows.meta_info.pop(contract.METRICS, {}) or {})

        with marked_timer("adv", timing_raw, color="brown"):
            step = self.process_rollout(prompts, rows, self.data_parallel_size())
        metrics.update(step.metrics)

        rollout_data_dir = self.config.trainer.get("rollout_data_dir", None)
        if rollout_data_dir:
            self._log_rollout_data(step.all_rows, {}, timing_raw, rollout_data_dir)

        if step.batch is None:  # e.g. executor phase but every design was invalid: nothing to train
            self.checkpoint_manager.update_weights(self.global_steps)
            self._maybe_save_checkpoint(is_last_step, timing_raw)  # a skipped update still checkpoints on schedule
            return step

        batch = step.batch
        if self.config.trainer.balance_batch:
            self._balance_batch(batch, metrics=metrics)
        batch.meta_info["global_token_num"] = torch.sum(batch.batch["attention_mask"], dim=-1).tolist()
        batch.meta_info["images_seqlens"] = []
        batch.meta_info["temperature"] = self.config.actor_rollout_ref.rollout.temperature

        batch, bypass = self._old_log_probs(batch, metrics, timing_raw)
        if self.use_reference_policy:
            with marked_timer("ref", timing_raw, color="olive"):
                batch = batch.union(self._compute_ref_log_prob(batch))
        rollout_corr = self.config.algorithm.get("rollout_correction", None)
        if rollout_corr is not None and "rollout_log_probs" in batch.batch.keys() and not bypass:
            from verl.trainer.ppo.rollout_corr_helper import compute_rollout_correction_and_add_to_batch

            batch, is_metrics = compute_rollout_correction_and_add_to_batch(batch, rollout_corr)
            metrics.update(is_metrics)

        if self.config.trainer.critic_warmup > self.global_steps:
            self.checkpoint_manager.update_weights(self.global_steps)
        else:
            with marked_timer("update_actor", timing_raw, color="red"):
                self._mini_batch_rows = step.plan.rows_per_mini_batch
                try:
                    actor_output = self._update_actor(batch)
                finally:
                    self._mini_batch_rows = None
            self._maybe_save_checkpoint(is_last_step, timing_raw)
            with marked_timer("update_weights", timing_raw, color="red"):
                self.checkpoint_manager.update_weights(self.global_steps)
            metrics.update(reduce_metrics(actor_output.meta_info["metrics"]))
        step.batch = batch
        return step

    def _maybe_save_checkpoint(self, is_last_step: bool, timing_raw: dict) -> None:
        freq = self.config.trainer.save_freq
        esi = should_save_ckpt_esi(
            max_steps_duration=self.max_steps_duration, redundant_time=self.config.trainer.esi_redundant_time
        )
        if freq > 0 and (is_last_step or self.global_steps % freq == 0 or esi):
            with marked_timer("save_checkpoint", timing_raw, color="green"):
                self._save_checkpoint()

    # ------------------------------------------------------------------ loop
    def fit(self):
        """The training loop: same step numbering, checkpoint / validation cadence and tracker as verl's."""
        from verl.utils.tracking import Tracking

        if self._dump_executor._shutdown:
            self._init_dump_executor()
        tracker = Tracking(
            project_name=self.config.trainer.project_name,
            experiment_name=self.config.trainer.experiment_name,
            default_backend=self.config.trainer.logger,
            config=OmegaConf.to_container(self.config, resolve=True),
        )
        self.global_steps = 0
        self._load_checkpoint()
        self.checkpoint_manager.update_weights(self.global_steps)
        current_epoch = self.global_steps // len(self.train_dataloader)

        if self.config.trainer.get("val_before_train", True):
            val_metrics = self._validate()
            pprint(f"Initial validation metrics: {val_metrics}")
            tracker.log(data=val_metrics, step=self.global_steps)
            if self.config.trainer.get("val_only", False):
                self._shutdown_dump_executor()
                return

        progress = tqdm(total=self.total_training_steps, initial=self.global_steps, desc="Training Progress")
        self.global_steps += 1  # verl numbers training steps from 1; a resumed run continues at saved + 1
        self.max_steps_duration = 0
        last_val_metrics = None
        for epoch in range(current_epoch, self.config.trainer.total_epochs):
            for batch_dict in self.train_dataloader:
                metrics: dict[str, Any] = {}
                timing_raw: dict[str, float] = {}
                is_last_step = self.global_steps >= self.total_training_steps
                with marked_timer("step", timing_raw):
                    step = self.train_step(batch_dict, metrics, timing_raw, is_last_step)
                if (self.config.trainer.test_freq > 0
                        and (is_last_step or self.global_steps % self.config.trainer.test_freq == 0)):
                    with marked_timer("testing", timing_raw, color="green"):
                        val_metrics = self._validate()
                    metrics.update(val_metrics)
                    if is_last_step:
                        last_val_metrics = val_metrics
                self.max_steps_duration = max(self.max_steps_duration, timing_raw["step"])
                metrics.update({"training/global_step": self.global_steps, "training/epoch": epoch})
                if step.batch is not None:
                    real = step.batch.select_idxs(step.batch.non_tensor_batch[contract.ROLE] != contract.ROLE_PAD)
                    metrics.update(compute_data_metrics(batch=real, use_critic=False))
                    metrics.update(compute_timing_metrics(batch=step.batch, timing_raw=timing_raw))
                    metrics.update(
                        compute_throughout_metrics(
                            batch=step.batch, timing_raw=timing_raw, n_gpus=self.resource_pool_manager.get_n_gpus()
                        )
                    )
                tracker.log(data=metrics, step=self.global_steps)
                progress.update(1)
                if is_last_step:
                    self._shutdown_dump_executor()
                    pprint(f"Final validation metrics: {last_val_metrics}")
                    progress.close()
                    return
                self.global_steps += 1
        self._shutdown_dump_executor()


__all__ = ["MetaAgentRayTrainer", "check_trainer_features", "ConfigError"]
