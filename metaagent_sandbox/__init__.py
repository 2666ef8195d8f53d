"""Run untrusted Python (model-written designs and programs) in an isolated child process.

A top-level package of its own: it knows nothing of RL or verl and imports nothing of the plugin,
so ``reward_fns`` can use it without ``import verl_metaagent`` (whose package import installs a
post-import hook); ``verl_metaagent.sandbox`` is the same modules under their old names.

:func:`run_in_sandbox` / :func:`run_python` are the entry points (the sandbox applies every
protection and drops privileges before any of the caller's code runs: :mod:`.process`);
:func:`active_protections` says which layers this host supports; :func:`settings_from_config` maps
a config section to the process-wide settings. See docs/sandbox.md.
"""

from metaagent_sandbox.limits import SandboxLimits, SandboxResult
from metaagent_sandbox.preload import PRELOAD_MODULES
from metaagent_sandbox.probe import active_protections
from metaagent_sandbox.process import CHANNEL_FDS, SandboxAbort, run_in_sandbox, run_python, run_python_sync
from metaagent_sandbox.settings import SandboxSettings, settings_from_config

__all__ = [
    "CHANNEL_FDS",
    "PRELOAD_MODULES",
    "SandboxAbort",
    "SandboxLimits",
    "SandboxResult",
    "SandboxSettings",
    "active_protections",
    "run_in_sandbox",
    "run_python",
    "run_python_sync",
    "settings_from_config",
]
