"""CPU training path for verl 0.9.1: a ``cpu`` device platform, a ``cpu`` rollout replica, and the
few workarounds verl needs where it assumes an accelerator.

Nothing here imports verl at package import time. Activation is explicit: the workarounds are
applied only when the ``cpu`` platform is selected with ``VERL_PLATFORM=cpu`` (see
:func:`cpu_platform_active`), so GPU users never run them. See ``docs/cpu.md``.
"""

from __future__ import annotations

import os

#: Name under which the platform is registered with ``PlatformRegistry`` and selected by
#: ``VERL_PLATFORM``; also the rollout name (``actor_rollout_ref.rollout.name=cpu``).
CPU_NAME = "cpu"


def cpu_platform_active() -> bool:
    """True when this process (and, through the inherited environment, its Ray workers) runs
    verl on the ``cpu`` platform, i.e. ``VERL_PLATFORM=cpu``.

    The environment variable is the single switch because verl resolves its platform from it
    in every process (driver and each Ray actor) and caches the result; reading verl's cached
    platform here would force that resolution too early.
    """
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == CPU_NAME


def cpu_engine_overrides(model_dir: str) -> list[str]:
    """Hydra overrides every verl trainer run on the ``cpu`` platform needs (see docs/cpu.md).

    Model loading without flash-attention / remove-padding, FSDP2 engines, the ``cpu`` rollout
    replica with the naive checkpoint engine, one TransferQueue storage unit and enough logical
    Ray CPUs for the task runner + storage actor on a 2-core machine. Batch sizes, data and
    algorithm settings are the caller's.
    """
    return [
        f"actor_rollout_ref.model.path={model_dir}",
        "actor_rollout_ref.model.use_remove_padding=False",
        "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
        "actor_rollout_ref.model.enable_gradient_checkpointing=False",
        "actor_rollout_ref.actor.strategy=fsdp2",
        "actor_rollout_ref.ref.strategy=fsdp2",
        "actor_rollout_ref.rollout.name=cpu",
        "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
        "actor_rollout_ref.rollout.checkpoint_engine.backend=naive",
        "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
        "trainer.device=cpu",
        "trainer.n_gpus_per_node=1",
        "trainer.nnodes=1",
        "ray_kwargs.ray_init.num_cpus=4",
    ]


def cpu_env(**extra: str) -> dict[str, str]:
    """This process's environment plus what a verl run on the ``cpu`` platform needs.

    Selects the plugin and the platform (inherited by every Ray worker), keeps tokenizers and
    OpenMP from oversubscribing a small machine; ``extra`` adds or overrides variables.
    """
    env = dict(os.environ)
    env.update(
        VERL_USE_EXTERNAL_MODULES="verl_metaagent",
        VERL_PLATFORM=CPU_NAME,
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env
