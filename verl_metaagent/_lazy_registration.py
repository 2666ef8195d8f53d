"""Register the plugin's pieces with verl's registries *when verl loads them*, not before.

``import verl_metaagent`` must be cheap and must work while verl itself is half-way through
``verl/__init__.py`` (that is where ``VERL_USE_EXTERNAL_MODULES`` and the ``verl.plugins`` entry
point are imported). So instead of importing verl here, we install a post-import hook: each
registration runs right after the verl module that owns the registry finishes importing, or at once
if it is already imported. ``import verl_metaagent`` installs the hook; ``reward_fns`` and
``metaagent_sandbox`` import nothing of ``verl_metaagent``, so a grader never installs it
(tests/reward_fns/test_standalone.py), and the sandbox's design children enter the package without
running its ``__init__``.

Registrations are listed in :data:`REGISTRATIONS` as ``verl module -> "our.module:function"``;
the function receives the imported verl module and must be idempotent.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import logging
import sys
import threading

logger = logging.getLogger(__name__)

# verl module whose import triggers the registration  ->  our registration callables
REGISTRATIONS: dict[str, list[str]] = {
    "verl.trainer.ppo.core_algos": ["verl_metaagent.advantage.verl_glue:register"],
    "verl.plugin.platform.platform_manager": ["verl_metaagent.cpu.platform:register"],
    "verl.workers.rollout.replica": ["verl_metaagent.cpu.replica:register"],
    "verl.experimental.agent_loop.agent_loop": ["verl_metaagent.rollout.verl_glue:register"],
    "verl.trainer.ppo.v1": ["verl_metaagent.trainer.v1_trainer:register"],  # trainer.v1.trainer_mode=metaagent
    # cpu platform workarounds (each a no-op unless VERL_PLATFORM=cpu)
    "verl.single_controller.ray.base": ["verl_metaagent.cpu.patches:patch_resource_pool_check"],
    "verl.utils.distributed": ["verl_metaagent.cpu.patches:patch_distributed_backend"],
    "verl.utils.device": ["verl_metaagent.cpu.patches:auto_select_on_trainer_device"],
    "verl.workers.engine": ["verl_metaagent.cpu.patches:register_cpu_engines"],
    "verl.workers.rollout.base": [
        "verl_metaagent.cpu.patches:register_cpu_rollout_adapter",
        "verl_metaagent.cpu.patches:explain_missing_rollout_engine",  # error message only
    ],
}

_done: set[str] = set()
_lock = threading.RLock()


def _run_registrations(module_name: str) -> None:
    module = sys.modules.get(module_name)
    if module is None:
        return
    for target in REGISTRATIONS.get(module_name, []):
        with _lock:
            if target in _done:
                continue
            _done.add(target)
        mod_name, func_name = target.split(":")
        try:
            func = getattr(importlib.import_module(mod_name), func_name)
        except ModuleNotFoundError as exc:  # piece not built yet / optional
            if exc.name and exc.name.startswith("verl_metaagent"):
                logger.debug("verl_metaagent: skipping %s (%s)", target, exc)
                continue
            raise
        func(module)


class _PostImportLoader(importlib.abc.Loader):
    def __init__(self, wrapped: importlib.abc.Loader, name: str):
        self._wrapped = wrapped
        self._name = name

    def create_module(self, spec):
        return self._wrapped.create_module(spec)

    def exec_module(self, module):
        self._wrapped.exec_module(module)
        _run_registrations(self._name)

    def __getattr__(self, item):  # e.g. get_source / get_code for tracebacks
        return getattr(self._wrapped, item)


class _PostImportFinder(importlib.abc.MetaPathFinder):
    """Wraps the loader of watched verl modules so registrations run after they import."""

    _busy = threading.local()

    def find_spec(self, fullname, path, target=None):
        if fullname not in REGISTRATIONS or getattr(self._busy, "active", False):
            return None
        self._busy.active = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.active = False
        if spec is None or spec.loader is None:
            return None
        spec.loader = _PostImportLoader(spec.loader, fullname)
        return spec


_finder = _PostImportFinder()


def install() -> None:
    """Install the hook (idempotent) and register for verl modules that are already imported."""
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    for name in list(REGISTRATIONS):
        if name in sys.modules:
            _run_registrations(name)


def register_now() -> None:
    """Import every watched verl module now (slow: pulls in ray, torch) and register everything."""
    install()
    for name in REGISTRATIONS:
        importlib.import_module(name)
