"""The spots where verl 0.9.1 assumes an accelerator, adjusted for the ``cpu`` platform.

Each function here is a post-import registration (listed in
``verl_metaagent._lazy_registration.REGISTRATIONS``): it receives the verl module that was just
imported and adjusts it **only when the cpu platform is selected** (``VERL_PLATFORM=cpu``,
see :func:`verl_metaagent.cpu.cpu_platform_active`). On any other platform each one returns
without touching verl, so GPU users run stock verl.

1. ``ResourcePoolManager._check_resource_available`` counts only ``GPU``/``NPU`` Ray resources,
   so on a CPU-only cluster it sees 0 and refuses; on cpu it counts ``CPU``.
2. ``verl.utils.distributed`` builds the backend string ``f"cpu:gloo,{device}:{backend}"``,
   which on cpu is ``cpu:gloo,cpu:gloo`` and torch rejects ("Duplicate device type cpu"); on
   cpu the default becomes ``cpu:gloo``.
3. verl's ``EngineRegistry`` holds FSDP entries only for ``cuda``/``npu``; on cpu the
   ``fsdp``/``fsdp2`` engines are also registered under ``cpu`` (the same classes; they run on
   CPU once the platform answers ``"cpu"``).
4. verl's private rollout registry (``verl.workers.rollout.base._ROLLOUT_REGISTRY``) maps
   ``(name, mode)`` to the trainer-side adapter that pushes weights to the rollout server; on
   cpu ``("cpu", "async")`` maps to :class:`verl_metaagent.cpu.replica.CPUServerAdapter`.
"""

from __future__ import annotations

import functools
import logging
import os
import types

logger = logging.getLogger(__name__)

#: The torch.distributed backend string used on the cpu platform.
CPU_DIST_BACKEND = "cpu:gloo"

#: Engine backends whose classes are also registered for the cpu device.
CPU_ENGINE_BACKENDS = ("fsdp", "fsdp2")

#: Import path of the trainer-side rollout adapter for ``rollout.name=cpu``.
CPU_ROLLOUT_ADAPTER = "verl_metaagent.cpu.replica.CPUServerAdapter"

_MARK = "_verl_metaagent_cpu_patched"

#: Platform / device name of the cpu platform.
CPU_NAME = "cpu"


def cpu_platform_active() -> bool:
    """True when the cpu platform is selected (``VERL_PLATFORM=cpu``); every patch is gated on it.

    Kept local to this module so the patches do not depend on the package ``__init__``.
    """
    return os.environ.get("VERL_PLATFORM", "").strip().lower() == CPU_NAME


def patch_resource_pool_check(ray_base: types.ModuleType) -> None:
    """On cpu, make ``ResourcePoolManager._check_resource_available`` count Ray ``CPU`` resources.

    Args:
        ray_base: the imported ``verl.single_controller.ray.base`` module.
    """
    if not cpu_platform_active():
        return
    manager = ray_base.ResourcePoolManager
    if getattr(manager._check_resource_available, _MARK, False):
        return

    def _check_cpu_resource_available(self) -> None:
        """Raise if the Ray cluster has fewer CPUs than the resource pools ask for."""
        import ray

        per_node = ray._private.state.available_resources_per_node()
        available = sum(info.get("CPU", 0) for info in per_node.values())
        required = sum(n for process_on_nodes in self.resource_pool_spec.values() for n in process_on_nodes)
        if available < required:
            raise ValueError(
                f"cpu platform: the Ray cluster has {available} free CPUs but the resource pools need "
                f"{required} (trainer.n_gpus_per_node * trainer.nnodes). Lower trainer.n_gpus_per_node "
                f"or give Ray more CPUs (ray_kwargs.ray_init.num_cpus)."
            )

    setattr(_check_cpu_resource_available, _MARK, True)
    manager._check_resource_available = _check_cpu_resource_available


def patch_distributed_backend(distributed: types.ModuleType) -> None:
    """On cpu, default verl's process-group backend to ``cpu:gloo`` instead of ``cpu:gloo,cpu:gloo``.

    Wraps ``initialize_global_process_group_ray`` (Ray workers) and
    ``initialize_global_process_group`` (torchrun, e.g. the SFT trainer). This runs right after
    ``verl.utils.distributed`` finishes importing, before any verl module binds these names.

    Args:
        distributed: the imported ``verl.utils.distributed`` module.
    """
    if not cpu_platform_active():
        return
    ray_init = distributed.initialize_global_process_group_ray
    if getattr(ray_init, _MARK, False):
        return

    @functools.wraps(ray_init)
    def initialize_global_process_group_ray(timeout_second=None, backend=None):
        return ray_init(timeout_second=timeout_second, backend=backend or CPU_DIST_BACKEND)

    def initialize_global_process_group(timeout_second=36000):
        """torchrun process-group init for the cpu platform (gloo only, no device selection)."""
        import os
        from datetime import timedelta

        import torch.distributed

        torch.distributed.init_process_group(
            backend=CPU_DIST_BACKEND,
            timeout=timedelta(seconds=timeout_second),
            init_method=os.environ.get("DIST_INIT_METHOD", None),
        )
        return int(os.environ["LOCAL_RANK"]), int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])

    for fn in (initialize_global_process_group_ray, initialize_global_process_group):
        setattr(fn, _MARK, True)
    distributed.initialize_global_process_group_ray = initialize_global_process_group_ray
    distributed.initialize_global_process_group = initialize_global_process_group


def register_cpu_engines(engine_pkg: types.ModuleType) -> None:
    """On cpu, register verl's FSDP engine classes for the ``cpu`` device too.

    Args:
        engine_pkg: the imported ``verl.workers.engine`` package (all engines registered).
    """
    if not cpu_platform_active():
        return
    engines = engine_pkg.EngineRegistry._engines
    added = []
    for model_type, by_backend in engines.items():
        for backend in CPU_ENGINE_BACKENDS:
            registry = by_backend.get(backend)
            if not registry or CPU_NAME in registry:
                continue
            source = registry.get("cuda") or registry.get(("cuda", "nvidia")) or registry.get("npu")
            if source is not None:
                registry[CPU_NAME] = source
                added.append(f"{model_type}/{backend}")
    logger.debug("cpu platform: engine entries added for %s", added)


def register_cpu_rollout_adapter(rollout_base: types.ModuleType) -> None:
    """On cpu, add ``("cpu", "async")`` to verl's private rollout registry.

    Args:
        rollout_base: the imported ``verl.workers.rollout.base`` module.
    """
    if not cpu_platform_active():
        return
    rollout_base._ROLLOUT_REGISTRY.setdefault((CPU_NAME, "async"), CPU_ROLLOUT_ADAPTER)


def explain_missing_rollout_engine(rollout_base: types.ModuleType) -> None:
    """Make ``get_rollout_class`` name the install command when a GPU engine is not installed.

    Applies on every platform but changes only the error: without vllm, verl 0.9.1 raises
    ``ValueError: vllm version None not supported ...``; this raises an ImportError that says
    ``pip install -e ".[gpu]"`` (or use the cpu platform) instead. Engines that are installed
    resolve exactly as before.

    Args:
        rollout_base: the imported ``verl.workers.rollout.base`` module.
    """
    original = rollout_base.get_rollout_class
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def get_rollout_class(rollout_name: str, mode: str = "async"):
        from verl_metaagent.cpu.replica import missing_engine_error

        error = missing_engine_error(rollout_name)
        if error is not None:
            raise error
        return original(rollout_name, mode)

    setattr(get_rollout_class, _MARK, True)
    rollout_base.get_rollout_class = get_rollout_class


#: verl module -> the cpu workaround hooked on it (also listed in ``_lazy_registration``).
CPU_WORKAROUNDS = {
    "verl.single_controller.ray.base": patch_resource_pool_check,
    "verl.utils.distributed": patch_distributed_backend,
    "verl.workers.engine": register_cpu_engines,
    "verl.workers.rollout.base": register_cpu_rollout_adapter,
}


def _accelerator_visible() -> bool:
    """True if torch sees a CUDA/ROCm GPU or an Ascend NPU in this process."""
    import torch

    if torch.cuda.is_available():
        return True
    npu = getattr(torch, "npu", None)
    try:
        return bool(npu is not None and npu.is_available())
    except Exception:  # noqa: BLE001 - a broken torch_npu counts as no NPU
        return False


def select_cpu_platform() -> None:
    """Switch this process to the cpu platform and apply the workarounds to verl modules that are
    already imported (later imports get them from their post-import hooks).

    Sets ``VERL_PLATFORM=cpu`` in the environment first, so Ray (started afterwards) hands it to
    every worker.
    """
    import sys

    os.environ["VERL_PLATFORM"] = CPU_NAME
    from verl.plugin.platform import platform_manager

    cpu_cls = platform_manager.PlatformRegistry.get(CPU_NAME)
    current = platform_manager._current_platform
    if cpu_cls is not None and (current is None or current.device_name != CPU_NAME):
        platform_manager.set_platform(cpu_cls())
    for module_name, workaround in CPU_WORKAROUNDS.items():
        module = sys.modules.get(module_name)
        if module is not None:
            workaround(module)


def auto_select_on_trainer_device(device_module: types.ModuleType) -> None:
    """Let ``trainer.device=cpu`` select the cpu platform when no accelerator is visible.

    verl's entry points (``main_ppo``, the SFT trainers, ...) call
    ``verl.utils.device.auto_set_device(config)`` before ``ray.init``; this wraps it. The wrapper
    acts only if ``config.trainer.device == "cpu"``, ``VERL_PLATFORM`` is unset, and torch sees
    no GPU/NPU, so stock behaviour on accelerator hosts (verl moves ``device=cpu`` to the
    detected accelerator) is unchanged.

    Args:
        device_module: the imported ``verl.utils.device`` module.
    """
    original = device_module.auto_set_device
    if getattr(original, _MARK, False):
        return

    @functools.wraps(original)
    def auto_set_device(config) -> None:
        trainer = getattr(config, "trainer", None) if config is not None else None
        wants_cpu = str(getattr(trainer, "device", "") or "").lower() == CPU_NAME
        if wants_cpu and not os.environ.get("VERL_PLATFORM") and not _accelerator_visible():
            logger.warning("verl_metaagent: trainer.device=cpu and no accelerator -> cpu platform")
            select_cpu_platform()
        return original(config)

    setattr(auto_set_device, _MARK, True)
    device_module.auto_set_device = auto_set_device
