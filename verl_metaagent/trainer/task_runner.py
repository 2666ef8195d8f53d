"""A verl ``TaskRunner`` that builds :class:`MetaAgentRayTrainer` (reuses verl's ``BaseTaskRunner`` helpers).

verl's legacy ``TaskRunner.run`` hard-codes ``RayPPOTrainer``; this ``run`` does the same set-up
through the inherited helpers (worker roles, resource pools, datasets) and builds our trainer.
"""

from __future__ import annotations

import os
import socket
from pprint import pprint

import ray
from omegaconf import OmegaConf

from verl.trainer.main_ppo_v0 import BaseTaskRunner
from verl.trainer.ppo.utils import create_rl_dataset, create_rl_sampler, need_critic, need_reference_policy
from verl.utils.config import validate_config


class MetaAgentTaskRunnerBase(BaseTaskRunner):
    """Plain (non-Ray) class; :data:`MetaAgentTaskRunner` is its Ray actor."""

    trainer_cls_path = "verl_metaagent.trainer.ray_trainer:MetaAgentRayTrainer"

    def build_trainer(self, config):
        """Everything up to (not including) ``init_workers``; returns the trainer."""
        import importlib

        import verl_metaagent  # noqa: F401  (installs the lazy registrations in this Ray process)
        from verl.utils.config import omega_conf_to_dataclass
        from verl.utils.dataset.rl_dataset import collate_fn
        from verl.workers.config import HFModelConfig

        from verl_metaagent.config.schema import validate_run_config

        print(f"MetaAgentTaskRunner hostname: {socket.gethostname()}, PID: {os.getpid()}")
        pprint(OmegaConf.to_container(config, resolve=True))
        OmegaConf.resolve(config)
        validate_run_config(config)

        actor_rollout_cls, ray_worker_group_cls = self.add_actor_rollout_worker(config)
        self.add_critic_worker(config)
        self.add_reward_model_resource_pool(config)
        self.add_teacher_model_resource_pool(config)
        self.add_ref_policy_worker(config, actor_rollout_cls)
        validate_config(config=config, use_reference_policy=need_reference_policy(config),
                        use_critic=need_critic(config))

        model_config: HFModelConfig = omega_conf_to_dataclass(config.actor_rollout_ref.model)
        resource_pool_manager = self.init_resource_pool_mgr(config)
        datasets = {
            split: create_rl_dataset(
                files,
                config.data,
                model_config.tokenizer,
                model_config.processor,
                is_train=split == "train",
                max_samples=config.data.get(f"{split}_max_samples", -1),
            )
            for split, files in (("train", config.data.train_files), ("val", config.data.val_files))
        }
        module_name, cls_name = self.trainer_cls_path.split(":")
        trainer_cls = getattr(importlib.import_module(module_name), cls_name)
        return trainer_cls(
            config=config,
            tokenizer=model_config.tokenizer,
            processor=model_config.processor,
            role_worker_mapping=self.role_worker_mapping,
            resource_pool_manager=resource_pool_manager,
            ray_worker_group_cls=ray_worker_group_cls,
            train_dataset=datasets["train"],
            val_dataset=datasets["val"],
            collate_fn=collate_fn,
            train_sampler=create_rl_sampler(config.data, datasets["train"]),
        )

    def run(self, config):
        trainer = self.build_trainer(config)
        trainer.init_workers()
        trainer.fit()


MetaAgentTaskRunner = ray.remote(num_cpus=1)(MetaAgentTaskRunnerBase)
