"""Per-run unprivileged uids, exclusive across every process on the host (``flock`` on a file per uid).

A run's uid is its identity for the process cap (``RLIMIT_NPROC``), the clean-up kill and the
file sweep, so two concurrent runs must never share one, even when they come from different
graders or rollout workers. Each uid has a lock file in a private root-owned directory; its
content records whether the last holder released it clean (``clean``) or may have left processes
behind (``inuse``: e.g. a parent that crashed mid-run), in which case the next holder sweeps first.
"""

from __future__ import annotations

import fcntl
import os
import threading
from typing import Optional

from metaagent_sandbox.hostdirs import dev_shm_is_tmpfs, private_dir

#: Sandbox uids are ``UID_BASE .. UID_BASE + UID_SLOTS - 1`` (no account needs to exist).
UID_BASE = 61000
UID_SLOTS = 2048

# One lock file per sandbox uid, shared by every process of this machine (RAM-backed when possible:
# each run opens, reads and writes its lock file on the event loop).
LOCK_DIR = ("/dev/shm" if dev_shm_is_tmpfs() else "/tmp") + "/verl_metaagent_sandbox_uids"

_lock = threading.Lock()
_next = [0]
_released: list = []  # uids this process released clean, reused first (keeps the set of uids small)
_FLAGS = os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC


def is_sandbox_uid(uid: int) -> bool:
    """Whether ``uid`` is one the sandbox hands out."""
    return UID_BASE <= uid < UID_BASE + UID_SLOTS


def _try_lock(uid: int) -> Optional[int]:
    fd = os.open(os.path.join(LOCK_DIR, str(uid)), _FLAGS, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except OSError:  # held by another run (of this or another process)
        os.close(fd)
        return None


def claim_uid() -> "tuple[int, int] | None":
    """A sandbox uid no other run on this host holds: ``(uid, lock_fd)``, or None if all are taken.

    Raises:
        OSError: the lock directory is unusable (e.g. not private: see :func:`private_dir`).
    """
    private_dir(LOCK_DIR, 0o700)
    while True:
        with _lock:
            if not _released:
                break
            uid = _released.pop()
        fd = _try_lock(uid)
        if fd is not None:
            return uid, fd
    with _lock:
        start = _next[0]
        _next[0] = (start + 1) % UID_SLOTS
    offset = (os.getpid() * 131) % UID_SLOTS
    for k in range(UID_SLOTS):
        uid = UID_BASE + (offset + start + k) % UID_SLOTS
        fd = _try_lock(uid)
        if fd is not None:
            return uid, fd
    return None


def uid_was_left_clean(fd: int) -> bool:
    """Whether the last holder of this uid lock released it clean (no process left); marks it in use."""
    clean = os.pread(fd, 8, 0) == b"clean"
    os.pwrite(fd, b"inuse", 0)
    return clean


def release_uid(fd: int, clean: bool = False, uid: Optional[int] = None) -> None:
    """Drop the lock; ``clean``: no process of the uid is left (else the next holder sweeps first)."""
    if clean:
        os.pwrite(fd, b"clean", 0)
    os.close(fd)
    if clean and uid is not None:
        with _lock:
            _released.append(uid)
