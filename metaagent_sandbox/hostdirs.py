"""Directories of the host the sandbox writes to: private dirs it owns, and the runs' work dirs.

Shared, world-writable places (``/tmp``, ``/dev/shm``) are where sandboxed programs may leave
files behind; :mod:`.cleanup` scans their top level after runs and skips a directory whose
change time shows nothing was created or removed in it since it was last seen clean. For that
to work the sandbox's own churn (a work dir per run) must not touch those directories: work
dirs are made inside a private, root-owned runs directory (mode 0711: a run's uid can reach its
own work dir but cannot list the others).
"""

from __future__ import annotations

import functools
import os
import stat
import tempfile
from typing import Optional

from metaagent_sandbox.settings import AUTO, settings_from_environ

#: Name of the runs directory made inside the chosen base (``/dev/shm``, the system temp dir, ...).
RUNS_DIR_NAME = "verl_metaagent_sandbox_runs"


@functools.lru_cache(maxsize=1)
def dev_shm_is_tmpfs() -> bool:
    """``/dev/shm`` is a tmpfs that everyone may create entries in (sticky, mode 1777)."""
    try:
        st = os.stat("/dev/shm")
        with open("/proc/self/mounts") as f:
            mounts = [line.split() for line in f]
    except OSError:
        return False
    return (
        stat.S_ISDIR(st.st_mode)
        and (st.st_mode & 0o1777) == 0o1777
        and any(len(m) > 2 and m[1] == "/dev/shm" and m[2] == "tmpfs" for m in mounts)
    )


def private_dir(path: str, mode: int) -> str:
    """Create ``path`` with exactly ``mode`` if missing, and check it is ours: a real directory
    (not a symlink) owned by this euid that no one else could write to; its mode is then set to
    ``mode``. A sandboxed run may have planted a look-alike (e.g. after a tmp cleaner removed
    ours): that is refused. Returns ``path``.

    Raises:
        PermissionError: ``path`` exists but is not such a directory.
    """
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022 & ~mode:
        # someone else may have created entries in it: never trust its content
        raise PermissionError(f"{path} is not a private directory of uid {os.geteuid()}")
    if st.st_mode & 0o7777 != mode:
        os.chmod(path, mode)  # narrowed by the umask: widen to what runs need to traverse it
    return path


def per_user(name: str) -> str:
    """``name`` for root, ``name_<uid>`` for anyone else: users sharing a host each get their own
    private dir instead of being refused the one another user made first."""
    return name if os.geteuid() == 0 else f"{name}_{os.geteuid()}"


def memory_work_root() -> Optional[str]:
    """A RAM-backed directory for work dirs of runs that cannot write files (design scripts), or None.

    ``/dev/shm`` when it is a world-writable sticky tmpfs; ``VERL_METAAGENT_SANDBOX_WORKDIR`` overrides
    it (an empty value = the system temp dir; see :mod:`.settings`). On a disk-backed ``/tmp`` each
    run's mkdir/write/chown
    costs ~0.6 ms of the event loop on this machine vs ~0.05 ms on tmpfs, which is most of the
    start-up burst of 64 concurrent executions. Not for the code grader: programs can write files,
    and tmpfs pages are RAM.
    """
    root = settings_from_environ(os.environ).design_work_root
    if root != AUTO:
        return root or None
    return "/dev/shm" if dev_shm_is_tmpfs() else None


def runs_dir(work_root: Optional[str]) -> Optional[str]:
    """The private runs dir inside ``work_root`` (default: the system temp dir), made if needed;
    None when it cannot be used (e.g. someone else owns a directory of that name)."""
    try:
        return private_dir(os.path.join(work_root or tempfile.gettempdir(), per_user(RUNS_DIR_NAME)), 0o711)
    except OSError:
        return None


def make_work_dir(work_root: Optional[str]) -> str:
    """A fresh, empty work dir for one run, inside the private runs dir of ``work_root`` (default:
    the system temp dir); directly in ``work_root`` when the runs dir cannot be used."""
    return tempfile.mkdtemp(prefix="vmsbx_", dir=runs_dir(work_root) or work_root or tempfile.gettempdir())
