"""Probing what the kernel allows this process: run a check in a forked child and read its verdict.

Namespace and mount probes change the calling process for good (``unshare``, ``chroot``), so they
run in a child that exits right after. The child may inherit locks held by other threads of a busy
parent; it touches only what it needs, and the parent never waits for it forever.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Callable

def kernel_at_least(major: int, minor: int) -> bool:
    """Whether the running Linux kernel is at least ``major.minor`` (False if its release string
    does not parse)."""
    try:
        return tuple(int(x) for x in os.uname().release.split(".")[:2]) >= (major, minor)
    except ValueError:
        return False


#: A probe that has not answered by then counts as "not allowed" (and is killed).
PROBE_TIMEOUT_SECONDS = 10.0


def check_in_child(check: Callable[[], bool], timeout: float = PROBE_TIMEOUT_SECONDS) -> bool:
    """Run ``check()`` in a forked child; True only if it returned true there (an exception, a
    crash, or no answer within ``timeout`` seconds is False)."""
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:
        try:
            ok = bool(check())
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return False
        time.sleep(0.002)
