"""After a run: kill what its uid left running and delete what it left in shared temp dirs.

All of it runs in one daemon thread (:class:`Sweeper`) that batches the requests of runs ending
together, so one scan serves many runs and the event loops never block on a scan.

Costs that scale with the host, not with the run, are avoided where it is safe:

* a shared temp dir (``/tmp``, ``/var/tmp``, ``/dev/shm``) whose change time (``ctime``, which no
  one can set back) is the one it had when a scan found no entry of *any* sandbox uid in it has
  had nothing created or removed since, so it holds no sandbox file: it is not listed again. The
  ctime is remembered only when it was older than a second at the scan, so a file created in
  the same coarse clock tick as the scan cannot hide behind an unchanged timestamp.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
import time
from typing import Optional

from verl_metaagent.sandbox.uids import is_sandbox_uid

#: World-writable places a sandbox uid can write to besides its work dir; emptied of its files after a run.
SHARED_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
_QUIET_AGE_NS = 1_000_000_000


def _kill_uids_once(uids: "set[int]") -> "tuple[set[int], set[int]]":
    """SIGKILL every live process of ``uids``; return (uids that had a live process, uids that had
    only zombies: dead, but counted towards the uid's process cap until their parent reaps them)."""
    live: set = set()
    zombie: set = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            uid = os.stat(f"/proc/{entry}").st_uid
            if uid not in uids:
                continue
            with open(f"/proc/{entry}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    zombie.add(uid)
                    continue
            os.kill(int(entry), signal.SIGKILL)
            live.add(uid)
        except (OSError, IndexError):
            pass
    return live, zombie - live


#: How long a sweep waits for zombies to be reaped (by the zygote, a subreaper, at once; by init
#: when a ``spawn`` run's processes were orphaned) before it reports their uid as not yet empty.
ZOMBIE_WAIT_SECONDS = 0.05


def kill_uids(uids: "set[int]") -> "set[int]":
    """Kill every process left running under sandbox ``uids`` (escaped sessions, fork storms).

    Sweeps until a sweep finds no process (a process forked during a sweep is caught by the next),
    waiting up to :data:`ZOMBIE_WAIT_SECONDS` for killed ones to be reaped: a zombie still counts
    towards ``RLIMIT_NPROC``, and the next run of the uid must be able to fork. Returns the uids
    that may still have one (empty: all known to be empty).
    """
    uids = set(uids)
    deadline = None
    for _ in range(1000):
        if not uids:
            break
        live, zombie = _kill_uids_once(uids)
        if zombie and not live:
            deadline = deadline or time.monotonic() + ZOMBIE_WAIT_SECONDS
            if time.monotonic() > deadline:
                return zombie
            time.sleep(0.001)
        uids = live | zombie
    return uids


class SharedTmpCleaner:
    """Deletes top-level entries of given uids from :data:`SHARED_TMP_DIRS`, skipping quiet dirs."""

    def __init__(self, dirs: "tuple[str, ...]" = SHARED_TMP_DIRS):
        self.dirs = dirs
        self._clean_at: dict = {}  # dir -> ctime_ns at which it held no sandbox entry
        self.scans = 0  # directory listings done (for tests and diagnostics)

    def remove(self, uids: "set[int]") -> None:
        """Delete what ``uids`` left at the top level of the shared temporary directories."""
        for base in self.dirs:
            try:
                ctime = os.lstat(base).st_ctime_ns
            except OSError:
                continue
            if self._clean_at.get(base) == ctime:
                continue
            self._clean_at.pop(base, None)
            if self._scan(base, uids) and time.time_ns() - ctime > _QUIET_AGE_NS:
                self._clean_at[base] = ctime

    def _scan(self, base: str, uids: "set[int]") -> bool:
        """Remove ``uids``' entries of ``base``; True when it held no entry of any sandbox uid."""
        self.scans += 1
        try:
            entries = list(os.scandir(base))
        except OSError:
            return False
        clean = True
        for entry in entries:
            try:
                owner = entry.stat(follow_symlinks=False).st_uid
                if not is_sandbox_uid(owner):
                    continue
                clean = False  # ours to remove now, or another run's: removed when that run ends
                if owner not in uids:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass
        return clean


class Sweeper:
    """Kills processes and removes files of sandbox uids in one daemon thread, batching requests."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list = []
        self._thread: Optional[threading.Thread] = None
        self.files = SharedTmpCleaner()

    async def clean(self, uid: int, *, processes: bool = True, files: bool = True) -> bool:
        """Kill ``uid``'s processes and/or remove its files; True when no process of it is left."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            self._queue.append((uid, processes, files, loop, future))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-sweeper", daemon=True)
                self._thread.start()
            self._cond.notify()
        return await future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                batch, self._queue = self._queue, []
            left = set()
            try:
                left = kill_uids({uid for uid, processes, _, _, _ in batch if processes})
                files = {uid for uid, _, wants_files, _, _ in batch if wants_files}
                if files:
                    self.files.remove(files)
            except Exception:  # never strand a waiting run
                left = {uid for uid, *_ in batch}
            for uid, _, _, loop, future in batch:
                try:
                    loop.call_soon_threadsafe(_resolve, future, uid not in left)
                except RuntimeError:  # that run's loop is closed
                    pass


def _resolve(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


_sweeper = Sweeper()


def sweeper() -> Sweeper:
    """This process's sweeper (a forked copy of the process gets its own)."""
    return _sweeper


def _new_sweeper_after_fork() -> None:
    global _sweeper
    _sweeper = Sweeper()


os.register_at_fork(after_in_child=_new_sweeper_after_fork)
