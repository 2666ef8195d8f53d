"""The sandbox under its old name: :mod:`metaagent_sandbox`, re-exported for compatibility.

The sandbox is the top-level package ``metaagent_sandbox`` (so that ``reward_fns`` can run programs
in it without importing this plugin, whose package import installs a post-import hook). This package
keeps ``verl_metaagent.sandbox`` and ``verl_metaagent.sandbox.<module>`` working: each submodule
name is the *same module object* as ``metaagent_sandbox.<module>`` (``sys.modules`` aliases), so a
setting changed or a function patched under either name is seen under both. New code imports
``metaagent_sandbox``.
"""

import importlib
import pkgutil
import sys

import metaagent_sandbox
from metaagent_sandbox import *  # noqa: F403
from metaagent_sandbox import __all__  # noqa: F401

# every module of the sandbox except the zygote's script (run as a file, never imported)
_SUBMODULES = tuple(m.name for m in pkgutil.iter_modules(metaagent_sandbox.__path__) if m.name != "_zygote_main")

for _name in _SUBMODULES:
    _module = importlib.import_module(f"metaagent_sandbox.{_name}")
    sys.modules[f"{__name__}.{_name}"] = _module
    globals()[_name] = _module
del _name, _module
