"""Limits and results of one sandboxed run (plain dataclasses; no verl/torch/ray)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


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
    """Outcome of :func:`verl_metaagent.sandbox.run_python`.

    ``status``: ``ok`` (exit 0), ``error`` (non-zero exit), ``timeout`` (wall or CPU limit),
    ``output_limit``, ``killed`` (by a signal, e.g. memory), or ``error`` with ``detail['reason']``.
    """

    status: str
    exit_code: Optional[int]
    stdout: str
    stderr: str
    wall_seconds: float
    detail: dict = field(default_factory=dict)
