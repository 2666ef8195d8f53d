"""The ``cpu`` device platform for verl 0.9.1 (``VERL_PLATFORM=cpu``).

verl resolves its device platform once per process from
``verl.plugin.platform.platform_manager.PlatformRegistry`` (``VERL_PLATFORM`` picks the name).
Only accelerator platforms ship; :class:`PlatformCPU` fills the interface for a host without one:
the ``gloo`` collective backend, the Ray resource ``"CPU"``, and no-op device calls (there is no
device to select, synchronise, or free memory on).

:func:`register` is called by ``verl_metaagent._lazy_registration`` right after verl imports
``platform_manager``. It registers the class always (registering is inert until selected: the class never wins
auto-detection). The CPU workarounds live in :mod:`verl_metaagent.cpu.patches`, each hooked on
its own verl module and applied only when the ``cpu`` platform is selected.
"""

from __future__ import annotations

import logging
import types
from contextlib import contextmanager
from typing import Any, Optional

from verl_metaagent.cpu import CPU_NAME, cpu_platform_active

logger = logging.getLogger(__name__)


def _noop(*_args: Any, **_kwargs: Any) -> None:
    """Accept anything, do nothing: a device call that has no meaning on the host CPU."""
    return None


def _zero(*_args: Any, **_kwargs: Any) -> int:
    """Report zero bytes for device-memory counters (no device memory exists)."""
    return 0


def _host_mem_get_info(*_args: Any, **_kwargs: Any) -> tuple[int, int]:
    """``(free, total)`` bytes of host memory, standing in for ``torch.cuda.mem_get_info``."""
    try:
        import psutil

        vm = psutil.virtual_memory()
        return int(vm.available), int(vm.total)
    except ImportError:  # psutil is a Ray dependency, but keep a defined answer without it
        return 0, 0


def _build_device_module() -> types.ModuleType:
    """Build the object verl's ``get_torch_device()`` returns on the cpu platform.

    verl calls ``torch.<device>`` functions through it (``empty_cache``, ``synchronize``,
    ``set_device``, ``mem_get_info``, ``get_rng_state``, ``current_stream``, ...). ``torch.cpu``
    provides only some of them, so this namespace starts from ``torch.cpu`` and adds the rest
    as no-ops or host equivalents. ``current_device`` answers the string ``"cpu"``: an integer
    would make torch read it as accelerator index 0.
    """
    import torch
    import torch.cpu

    mod = types.ModuleType("verl_metaagent_cpu_device")
    for name in ("Stream", "Event", "StreamContext", "stream", "current_stream", "synchronize", "is_available"):
        if hasattr(torch.cpu, name):
            setattr(mod, name, getattr(torch.cpu, name))
    mod.current_device = lambda: CPU_NAME
    mod.device_count = lambda: 1
    mod.is_available = lambda: True
    mod.is_initialized = lambda: True
    mod.set_device = _noop
    mod.synchronize = _noop
    mod.empty_cache = _noop
    mod.ipc_collect = _noop
    mod.set_per_process_memory_fraction = _noop
    mod.reset_peak_memory_stats = _noop
    mod.memory_allocated = _zero
    mod.memory_reserved = _zero
    mod.max_memory_allocated = _zero
    mod.max_memory_reserved = _zero
    mod.mem_get_info = _host_mem_get_info
    mod.manual_seed = lambda seed: torch.manual_seed(seed)
    mod.manual_seed_all = lambda seed: torch.manual_seed(seed)
    mod.get_rng_state = lambda *a, **k: torch.get_rng_state()
    mod.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)
    mod.get_device_name = lambda *a, **k: "cpu"
    return mod


def _make_platform_class(platform_base: type) -> type:
    """Create the ``PlatformCPU`` subclass of verl's ``PlatformBase`` (given, to avoid importing
    verl at module import)."""

    class PlatformCPU(platform_base):
        """verl platform for hosts without an accelerator: gloo, Ray resource ``CPU``, no-op
        device calls. Selected with ``VERL_PLATFORM=cpu``; never auto-detected."""

        _device_module: Optional[types.ModuleType] = None

        @property
        def device_name(self) -> str:
            return CPU_NAME

        @property
        def vendor_name(self) -> str:
            return CPU_NAME

        @property
        def device_module(self) -> types.ModuleType:
            if PlatformCPU._device_module is None:
                PlatformCPU._device_module = _build_device_module()
            return PlatformCPU._device_module

        def is_available(self) -> bool:
            return True

        def is_platform_available(self, use_smi_check: bool = False) -> bool:
            # Never win auto-detection: a GPU host must keep picking its accelerator.
            return False

        def current_device(self) -> str:  # type: ignore[override]
            return CPU_NAME

        def device_count(self) -> int:
            return 1

        def set_device(self, device_index: int) -> None:
            return None

        def synchronize(self, device_index: Optional[int] = None) -> None:
            return None

        def manual_seed(self, seed: int) -> None:
            import torch

            torch.manual_seed(seed)

        def manual_seed_all(self, seed: int) -> None:
            import torch

            torch.manual_seed(seed)

        def set_allocator_settings(self, settings: str) -> None:
            return None

        def empty_cache(self) -> None:
            return None

        def get_device_capability(self, device_index: int = 0) -> tuple[Optional[int], Optional[int]]:
            return None, None

        def communication_backend_name(self) -> str:
            return "gloo"

        def visible_devices_envvar(self) -> str:
            return "CPU_VISIBLE_DEVICES"

        @contextmanager
        def nvtx_range(self, msg: str):
            yield

        def profiler_start(self) -> None:
            return None

        def profiler_stop(self) -> None:
            return None

        def ray_resource_name(self) -> str:
            return "CPU"

        def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
            # Ray rejects "CPU" inside ``resources``; it has its own keyword.
            return {"num_cpus": num_gpus}

        def ray_noset_envvars(self) -> list[str]:
            return []

        def is_ipc_supported(self) -> bool:
            return False

        def cudart(self) -> Any:
            return None

    return PlatformCPU


#: Set by :func:`register`; the registered class (for tests and callers that want it).
PlatformCPU: Optional[type] = None


def register(platform_manager: types.ModuleType) -> None:
    """Register :class:`PlatformCPU` under ``"cpu"``; apply the CPU workarounds if selected.

    Args:
        platform_manager: the imported ``verl.plugin.platform.platform_manager`` module.
    """
    global PlatformCPU
    registry = platform_manager.PlatformRegistry
    if registry.get(CPU_NAME) is None:
        from verl.plugin.platform.platform_base import PlatformBase

        PlatformCPU = registry.register(platform=CPU_NAME)(_make_platform_class(PlatformBase))
    else:
        PlatformCPU = registry.get(CPU_NAME)
    if cpu_platform_active():
        logger.info("verl_metaagent: cpu platform selected (VERL_PLATFORM=cpu)")
