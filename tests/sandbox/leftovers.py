"""What a sandbox run may have left behind, as seen right after it returned; programs that try (test helper).

Other jobs on the machine may run sandboxes too, and a uid released clean is handed out again, so
a check looks at the run's own uid (``result.detail["uid"]``) and only at processes that started
before the run returned.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import List, Optional

from metaagent_sandbox.uids import LOCK_DIR

_TICKS = os.sysconf("SC_CLK_TCK")

# survivor(keep_pipes, hog_memory): fork a process that tries to outlive the run.
_SURVIVOR = r"""
import ctypes, os, signal, sys, time
libc = ctypes.CDLL(None)
def survivor(keep_pipes, hog_memory=False):
    if os.fork():
        return
    os.setsid()  # out of the run's process group
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: its /proc files become root's
    if not keep_pipes:
        for fd in (0, 1, 2):
            os.close(fd)
    if hog_memory:
        block = bytearray(200 << 20)  # touched pages: a large exit to tear down
        for i in range(0, len(block), 4096):
            block[i] = 1
    while True:
        time.sleep(0.01)
"""

#: Programs whose descendants try to outlive the run (each prints ``forked`` and exits at once).
PROGRAMS = {
    # descendants that closed their pipes: the run ends when the main process does
    "closed_pipes": _SURVIVOR + "survivor(False)\nsurvivor(False, hog_memory=True)\nprint('forked')\n",
    # descendants that hold the pipes open: the uid sweep after the pipe grace ends them
    "open_pipes": _SURVIVOR + "survivor(True)\nsurvivor(True, hog_memory=True)\nprint('forked')\n",
    # a chain of processes that each fork the next and exit: new pids keep appearing during sweeps
    "fork_chain": _SURVIVOR + r"""
if os.fork() == 0:
    os.setsid()
    os.close(1); os.close(2)
    while True:
        try:
            if os.fork():
                os._exit(0)
        except OSError:
            time.sleep(0.001)
print('forked')
""",
}


def now_ticks() -> int:
    """Now, in the clock ticks since boot that ``/proc/<pid>/stat`` gives start times in (rounded down)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * _TICKS)


def _stat_fields(pid: str) -> List[bytes]:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def processes_started_before(uid: int, ticks: int, *, zombies: Optional[bool] = False) -> List[int]:
    """Pids of ``uid`` (its real uid, from ``/proc/<pid>/status``) that started before ``ticks``:
    running ones, with ``zombies=True`` the dead ones nobody has reaped yet, with ``None`` both."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/status") as f:
                real_uid = int(next(line for line in f if line.startswith("Uid:")).split()[1])
            if real_uid != uid:
                continue
            fields = _stat_fields(pid)  # fields[0] is the state, fields[19] the start time
            if int(fields[19]) < ticks and (zombies is None or (fields[0] == b"Z") == zombies):
                found.append(int(pid))
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return sorted(found)


def uid_is_held(uid: int) -> bool:
    """Whether some run (or the quarantine) holds ``uid``'s lock right now."""
    try:
        fd = os.open(os.path.join(LOCK_DIR, str(uid)), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
