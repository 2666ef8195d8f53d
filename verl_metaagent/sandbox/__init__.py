"""Run untrusted Python (model-written designs and programs) in an isolated child process.

Knows nothing of RL or verl. See :mod:`.process` for the isolation layers and
:func:`active_protections` for which are active on this host; docs/sandbox.md for details.
"""

from verl_metaagent.sandbox.limits import SandboxLimits, SandboxResult
from verl_metaagent.sandbox.process import (
    DROP_PRIVILEGES,
    PRELUDE,
    SandboxAbort,
    active_protections,
    run_in_sandbox,
    run_python,
    run_python_sync,
)

__all__ = [
    "DROP_PRIVILEGES",
    "PRELUDE",
    "SandboxAbort",
    "SandboxLimits",
    "SandboxResult",
    "active_protections",
    "run_in_sandbox",
    "run_python",
    "run_python_sync",
]
