"""After a run: kill what its uid left running and delete what it left in shared temp dirs.

All of it runs in one daemon thread (:class:`Sweeper`) that batches the requests of runs ending
together, so one scan serves many runs and the event loops never block on a scan.

No process outlives its run: a sweep kills every process of the uid, then waits until each is
gone -- dead and reaped -- before it reports the uid empty (:func:`kill_uids`). A process that is
not gone in time (a zombie of an orphan that init reaps late or never, a killed process that an
overloaded machine has not yet scheduled to die) leaves its uid *quarantined*: the sweeper holds
the uid's lock (no run anywhere can claim it) and releases it once a later sweep finds it empty.

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

from metaagent_sandbox.uids import is_sandbox_uid, release_uid

#: World-writable places a sandbox uid can write to besides its work dir; emptied of its files after a run.
SHARED_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
_QUIET_AGE_NS = 1_000_000_000


def kill_child(pid: Optional[int], pidfd: Optional[int], running: bool) -> None:
    """SIGKILL a run's main child -- by ``pidfd`` while it is ``running`` (never another process) --
    and its process group, also after the child itself exited: what it forked may still run. The
    group id stays reserved while any member lives, so this never hits a stranger's group."""
    if running and pidfd is not None:
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        except OSError:
            pass
    if pid is not None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass


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
#: How long a sweep waits for killed processes to die (SIGKILL is final, but a loaded machine may
#: take a while to schedule the exit of a large process) before it reports their uid not yet empty.
DEATH_WAIT_SECONDS = 10.0
#: Pause between sweeps while killed processes are still dying (doubling from the first value).
_PAUSES = (0.0005, 0.01)


def kill_uids(
    uids: "set[int]", death_wait: float = DEATH_WAIT_SECONDS, zombie_wait: float = ZOMBIE_WAIT_SECONDS
) -> "set[int]":
    """Kill every process of sandbox ``uids`` (escaped sessions, fork storms) and wait until each is gone.

    Sweeps until a sweep finds no process at all: a process forked during a sweep is caught by the
    next; a killed one is looked for again until it has died (up to ``death_wait`` seconds) and been
    reaped (up to ``zombie_wait`` seconds once only zombies are left: a zombie still counts towards
    ``RLIMIT_NPROC``, and the next run of the uid must be able to fork). Returns the uids that still
    have a process when a wait ran out (empty: every one is gone).
    """
    uids = set(uids)
    started = time.monotonic()
    zombies_since = None
    pause = _PAUSES[0]
    while uids:
        live, zombie = _kill_uids_once(uids)
        uids = live | zombie
        if not uids:
            break
        now = time.monotonic()
        if live:
            zombies_since = None
            if now - started > death_wait:
                return uids
        else:
            zombies_since = zombies_since or now
            if now - zombies_since > zombie_wait:
                return uids
        time.sleep(pause)
        pause = min(pause * 2, _PAUSES[1])
    return set()


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


#: How often the sweeper looks at quarantined uids again.
QUARANTINE_RECHECK_SECONDS = 0.25


class Sweeper:
    """Kills processes and removes files of sandbox uids in one daemon thread, batching requests;
    holds quarantined uids until they are empty."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list = []
        self._quarantined: dict = {}  # uid -> its lock fd, held until the uid is empty
        self._rechecked_at = 0.0
        self._thread: Optional[threading.Thread] = None
        self.files = SharedTmpCleaner()

    def _wake(self) -> None:
        """Start the thread if needed and wake it (call with ``_cond`` held)."""
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="sandbox-sweeper", daemon=True)
            self._thread.start()
        self._cond.notify()

    def quarantine(self, uid: int, lock_fd: int) -> None:
        """Keep ``uid``'s lock (``lock_fd``, from ``uids.claim_uid``) until no process of it is left,
        then release it clean. Until then no run of any process can claim the uid."""
        with self._cond:
            self._quarantined[uid] = lock_fd
            self._wake()

    def quarantined(self) -> "set[int]":
        """The uids held in quarantine now."""
        with self._cond:
            return set(self._quarantined)

    async def clean(self, uid: int, *, processes: bool = True, files: bool = True) -> bool:
        """Kill ``uid``'s processes and/or remove its files; True when no process of it is left."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._cond:
            self._queue.append((uid, processes, files, loop, future))
            self._wake()
        return await future

    def _recheck_quarantine(self) -> None:
        """Release the quarantined uids that are empty now (at most every :data:`QUARANTINE_RECHECK_SECONDS`)."""
        with self._cond:
            held = dict(self._quarantined)
        if not held or time.monotonic() - self._rechecked_at < QUARANTINE_RECHECK_SECONDS:
            return
        self._rechecked_at = time.monotonic()
        try:
            left = kill_uids(set(held), death_wait=0.0, zombie_wait=0.0)
        except Exception:
            return
        for uid, fd in held.items():
            if uid not in left:
                with self._cond:
                    del self._quarantined[uid]
                release_uid(fd, True, uid)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    if not self._quarantined:
                        self._cond.wait()
                        continue
                    if not self._cond.wait(QUARANTINE_RECHECK_SECONDS):
                        break
                batch, self._queue = self._queue, []
            self._recheck_quarantine()
            if not batch:
                continue
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
