"""What this host allows the sandbox: which isolation layers work (:func:`active_protections`).

Namespace and mount probes change the calling process for good (``unshare``, ``chroot``), so they
run in a child that exits right after (:func:`check_in_child`). The child may inherit locks held by
other threads of a busy parent; it touches only what it needs, and the parent never waits for it
forever.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from typing import Callable

from metaagent_sandbox import _child
from metaagent_sandbox.jail import jail_spec
from metaagent_sandbox.settings import settings_from_environ

IS_ROOT = os.geteuid() == 0

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


@functools.lru_cache(maxsize=1)
def own_proc_possible() -> bool:
    """Whether the jail can mount its own ``/proc`` with ``hidepid=2``: as root (an unprivileged
    user namespace may not mount the host pid namespace's proc) on Linux >= 5.8, where proc mount
    options belong to the mount; on older kernels they are shared by every proc mount of the pid
    namespace, so the host's own ``/proc`` would change too."""
    return IS_ROOT and kernel_at_least(5, 8)


def namespace_works(flags: int) -> bool:
    """Whether a child of this process may ``unshare(flags)`` (and, for a pid namespace, fork its
    first process into it)."""

    def enter() -> bool:
        if _child.LIBC.unshare(flags) != 0:
            return False
        if flags & _child.CLONE_NEWPID:
            pid = os.fork()
            if pid == 0:
                os._exit(0 if os.getpid() == 1 else 1)
            return os.waitpid(pid, 0)[1] == 0
        return True

    return check_in_child(enter)


def jail_works(user_namespace: bool = False) -> bool:
    """Whether this process may build and enter the jail: as root, or (``user_namespace``) as an
    ordinary user inside a new unprivileged user namespace; never when the settings turn it off
    (``VERL_METAAGENT_SANDBOX_JAIL=0``)."""
    if not settings_from_environ(os.environ).jail or (not IS_ROOT and not user_namespace):
        return False
    try:
        spec = jail_spec([], own_proc_possible())
    except OSError:
        return False
    uid, gid = os.getuid(), os.getgid()

    def enter() -> bool:
        if user_namespace:
            if _child.LIBC.unshare(_child.CLONE_NEWUSER) != 0:
                return False
            _child.map_own_ids(uid, gid)
        if not _child.build_jail(spec):
            return False
        os.chroot(spec["root"])
        os.chdir("/")
        return os.path.isdir("/usr") and not os.path.exists(os.path.dirname(__file__))

    return check_in_child(enter)


_FOUND: dict = {}


def active_protections() -> "dict[str, bool]":
    """Which isolation layers the sandbox applies on this host (probed once per process).

    As root: network and IPC namespaces, a per-run uid with a process cap, the file-system jail
    (:mod:`.jail`; ``VERL_METAAGENT_SANDBOX_JAIL=0`` turns it off). Not root: network and IPC
    namespaces, the jail, a pid namespace and (Linux >= 5.14) a process cap through an
    unprivileged user namespace where the kernel allows one (``user_namespace``; most
    distributions do, some containers and hardened hosts do not).
    """
    if not _FOUND:
        net, ipc, user, pid = _child.CLONE_NEWNET, _child.CLONE_NEWIPC, _child.CLONE_NEWUSER, _child.CLONE_NEWPID
        if IS_ROOT:
            _FOUND.update(net=namespace_works(net), ipc=namespace_works(ipc), user=False, pid=False)
        else:
            works = namespace_works(user | net | ipc)
            _FOUND.update(net=works, ipc=works, user=works, pid=works and namespace_works(user | pid))
        # Linux >= 5.14 counts RLIMIT_NPROC per (user namespace, uid): a limit set inside a run's own
        # user namespace caps that run's processes only, not the trainer user's. On older kernels it
        # counts every process of the real uid, so such a limit would stop the run from forking at all.
        _FOUND["nproc"] = IS_ROOT or (_FOUND["user"] and kernel_at_least(5, 14))
        _FOUND["jail"] = jail_works(user_namespace=_FOUND["user"])
    return {
        "rlimits": True,
        "scrubbed_env": True,
        "network_namespace": _FOUND["net"],
        "ipc_namespace": _FOUND["ipc"],
        "user_namespace": _FOUND["user"],
        "pid_namespace": _FOUND["pid"],
        "file_system_jail": _FOUND["jail"],
        "unprivileged_uid": IS_ROOT,
        "process_cap": _FOUND["nproc"],
    }
