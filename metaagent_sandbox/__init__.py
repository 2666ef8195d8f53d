"""Run untrusted Python (model-written designs and programs) in an isolated child process.

Knows nothing of RL or verl. :func:`run_in_sandbox` / :func:`run_python` are the entry points
(the sandbox applies every protection and drops privileges before any of the caller's code
runs: :mod:`.process`); :func:`active_protections` says which layers this host supports;
:func:`settings_from_config` maps a config section to the process-wide settings. See
docs/sandbox.md.
"""

from verl_metaagent.sandbox.limits import SandboxLimits, SandboxResult
from verl_metaagent.sandbox.preload import PRELOAD_MODULES
from verl_metaagent.sandbox.probe import active_protections
from verl_metaagent.sandbox.process import CHANNEL_FDS, SandboxAbort, run_in_sandbox, run_python, run_python_sync
from verl_metaagent.sandbox.settings import SandboxSettings, settings_from_config

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
