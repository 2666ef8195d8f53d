"""Limits and results of one sandboxed run (plain dataclasses; no verl/torch/ray)."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Optional, Tuple


@dataclass
class SandboxLimits:
    """Resource limits of one sandboxed child process.

    Attributes:
        wall_seconds: wall-clock limit; the whole process group is killed at it.
        cpu_seconds: RLIMIT_CPU of the child.
        memory_mb: RLIMIT_AS (address space) of the child.
        max_processes: process cap (RLIMIT_NPROC of the child's private unprivileged uid).
        max_output_bytes: stdout/stderr kept per stream; the run is killed beyond it.
        allow_network: keep the host network (default: a private, empty network namespace).
    """

    wall_seconds: float = 10.0
    cpu_seconds: float = 10.0
    memory_mb: int = 1024
    max_processes: int = 16
    max_output_bytes: int = 1 << 20
    allow_network: bool = False


@dataclass
class SandboxResult:
    """Outcome of :func:`metaagent_sandbox.run_python`.

    ``status``: ``ok`` (exit 0), ``error`` (non-zero exit), ``timeout`` (wall or CPU limit),
    ``output_limit``, ``killed`` (by a signal, e.g. memory), or ``error`` with ``detail['reason']``.
    """

    status: str
    exit_code: Optional[int]
    stdout: str
    stderr: str
    wall_seconds: float
    detail: dict = field(default_factory=dict)


def describe_end(status: str, exit_code: Optional[int], limits: SandboxLimits) -> Tuple[str, str]:
    """The final ``(status, reason)`` of a run from how it ended.

    ``status`` is what the watcher saw (``ok`` when the child exited and its pipes closed,
    ``timeout`` at the wall clock, ``output_limit``); ``exit_code`` is the child's return code
    (negative: the signal that ended it). A child ended by SIGXCPU hit its CPU limit (``timeout``);
    by another signal, ``killed`` (e.g. SIGSEGV when the address-space limit breaks an allocation
    outside Python); a non-zero exit is ``error``. The reason names the limit involved, so a
    reward or a log line can say why a program failed without reading its stderr.
    """
    if status == "timeout":
        return status, f"wall-clock limit of {limits.wall_seconds:g} s reached"
    if status == "output_limit":
        return status, f"more than {limits.max_output_bytes} bytes on stdout or stderr"
    if status != "ok" or exit_code in (0, None):
        return status, ""
    if exit_code == -signal.SIGXCPU:
        return "timeout", f"CPU limit of {limits.cpu_seconds:g} s reached (SIGXCPU)"
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return "killed", f"killed by {name}"
    return "error", f"exit code {exit_code}"
