"""Parent side of the sandbox fork-server ("zygote"): warm children in a few milliseconds.

A fresh ``python -I -S`` child spends ~100 ms importing what untrusted code and the design API
need. The zygote (``_zygote_main.py``) is one long-lived helper per parent process and preload
(module names, see :mod:`.preload`): started lazily with the scrubbed environment, it imports the
preload once and forks a child per run; the child applies the run's protections, drops its
privileges and runs the caller's program (``_child.run``; see
:func:`metaagent_sandbox.run_in_sandbox`).

Lifetime: each zygote belongs to a daemon thread of this process that started it and waits for
its end; the zygote dies with that thread (``PR_SET_PDEATHSIG``) or when its control socket
closes, and a dead zygote is replaced on the next run. Each run gets its own status socket, read
by the run's event loop (no cross-thread hand-off per run). A zygote that fails to start makes the
sandbox fall back to fresh interpreters for :data:`RETRY_AFTER_SECONDS`.

Trust: the zygote never runs untrusted code, and no request carries code (only the run's spec,
JSON data); what it sends back is parsed as JSON integers only. Runs are killed through a pidfd
(no pid reuse race), their group and their uid.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Optional

from metaagent_sandbox.cleanup import kill_child
from metaagent_sandbox.preload import PROJECT_PACKAGES

logger = logging.getLogger(__name__)

_MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_zygote_main.py")
#: Seconds to wait for a starting zygote, and for a fork request to be answered.
START_TIMEOUT_SECONDS = 30.0
SPAWN_TIMEOUT_SECONDS = 10.0
#: After a zygote failed to start, runs use fresh interpreters for this long before trying again.
RETRY_AFTER_SECONDS = 60.0
_MAX_MESSAGE = 4096

BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONIOENCODING": "utf-8",
}


class ZygoteUnavailable(Exception):
    """The zygote could not fork this run (not started, died, unresponsive): use a fresh interpreter."""


def _parse(data: bytes, key: str) -> Optional[int]:
    try:
        value = json.loads(data)[key]
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    except (ValueError, TypeError, KeyError):
        return None


class ZygoteChild:
    """One run forked by the zygote, as the sandbox sees every child (see ``process._SpawnedChild``).

    ``pid``/``pidfd`` once started; ``exited`` is a future of the return code (subprocess
    convention: negative signal number when killed), ``returncode`` its value once known. The
    zygote reports on this run's own status socket, read by a plain fd callback of the run's
    event loop (no task per run).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, status: socket.socket):
        self.loop = loop
        self.pid: Optional[int] = None
        self.pidfd: Optional[int] = None
        self.returncode: Optional[int] = None
        self.zygote_died = False
        self.started: asyncio.Future = loop.create_future()
        self.exited: asyncio.Future = loop.create_future()
        self._status: Optional[socket.socket] = status
        loop.add_reader(status.fileno(), self._readable)

    def _readable(self) -> None:
        while self._status is not None:
            try:
                data, fds, _, _ = socket.recv_fds(self._status, _MAX_MESSAGE, 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data, fds = b"", []
            if self.pid is None:
                self._on_start_report(data, fds)
            else:
                self._on_exit_report(data, fds)

    def _on_start_report(self, data: bytes, fds: list) -> None:
        pid = _parse(data, "pid")
        if pid is None or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            reason = "the sandbox zygote died" if not data else f"the sandbox zygote could not fork: {data[:200]!r}"
            self._stop_reading()
            if not self.started.done():
                self.started.set_exception(ZygoteUnavailable(reason))
            return
        self.pid, self.pidfd = pid, fds[0]
        if not self.started.done():
            self.started.set_result(pid)

    def _on_exit_report(self, data: bytes, fds: list) -> None:
        for fd in fds:
            os.close(fd)
        code = _parse(data, "exit")
        if code is None:  # the zygote died: this run is unsupervised, end it
            kill_child(None, self.pidfd, True)
            code, self.zygote_died = -signal.SIGKILL, True
        self._stop_reading()
        self.returncode = code
        if not self.exited.done():
            self.exited.set_result(code)

    def _stop_reading(self) -> None:
        if self._status is not None:
            self.loop.remove_reader(self._status.fileno())
            self._status.close()
            self._status = None

    def kill(self) -> None:
        """SIGKILL the child (by pidfd: never another process) and its process group."""
        kill_child(self.pid, self.pidfd, self.returncode is None)

    def close(self) -> None:
        """Release the status socket and the pidfd (after the run)."""
        self._stop_reading()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class Zygote:
    """One fork-server process and the daemon thread that started it and waits for its end."""

    def __init__(self, preload: "tuple[str, ...]", jail: Optional[dict] = None):
        self.preload = preload  # module names, checked (preload.check_preload)
        self.jail = jail  # a jail spec (jail.jail_spec), or None
        self.jail_active = False  # the zygote built the jail: its children can be put in it
        self.ready = threading.Event()
        self.dead = False
        self.pid: Optional[int] = None  # the coordinator (the process the parent talks to)
        self.forker_pid: Optional[int] = None  # its child that forks the runs (each run's parent)
        self._sock: Optional[socket.socket] = None
        self._popen: Optional[subprocess.Popen] = None
        self._thread = threading.Thread(target=self._main, name="sandbox-zygote", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Started and not known to be dead."""
        return self.ready.is_set() and not self.dead

    def _main(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            config = {"parent_pid": os.getpid(), "control_fd": child.fileno(), "preload": list(self.preload),
                      "packages": PROJECT_PACKAGES, "jail": self.jail}
            # Started from this (long-lived) thread: PR_SET_PDEATHSIG follows the creating thread.
            self._popen = subprocess.Popen(
                [sys.executable, "-I", "-S", _MAIN, json.dumps(config)],
                env=dict(BASE_ENV, HOME="/nonexistent"), cwd="/", stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, pass_fds=(child.fileno(),), close_fds=True,
            )
            child.close()
            parent.settimeout(START_TIMEOUT_SECONDS)
            greeting = parent.recv(_MAX_MESSAGE)
            if _parse(greeting, "ready") is None:
                raise RuntimeError("no greeting from the zygote")
            hello = json.loads(greeting)
            self.jail_active = bool(self.jail) and hello.get("jail") is True
            forker = hello.get("forker")
            self.forker_pid = forker if isinstance(forker, int) and not isinstance(forker, bool) else None
            parent.settimeout(None)
            self.pid = self._popen.pid
            self._sock = parent
            self.ready.set()
            while parent.recv(_MAX_MESSAGE):  # nothing else is sent; EOF: the zygote is gone
                pass
        except Exception as exc:  # start-up failed: callers fall back to fresh interpreters
            logger.warning("sandbox zygote failed: %s: %s", type(exc).__name__, exc)
        finally:
            self.dead = True
            self.ready.set()
            if self._popen is not None:
                self.kill()
                self._popen.wait()
            child.close()
            parent.close()

    def kill(self) -> None:
        """Kill the zygote process (its runs die of their parent-death signal and are reported killed)."""
        if self._popen is not None:
            try:
                self._popen.kill()
            except OSError:
                pass

    async def spawn(
        self, argv1: str, env: dict, cwd: str, rlimits: dict, child_fds: list, netns: Optional[int] = None,
        jail: bool = False,
    ) -> ZygoteChild:
        """Fork a child for the run whose spec is ``argv1`` (JSON, see ``_child.run``) with
        ``child_fds`` as its fds 0, 1, 2, ... (stdio first).

        ``netns``: None (stay in the zygote's network namespace), a uid (that uid's reused, empty
        namespace) or -1 (a fresh one); the child exits 97 before running anything if it cannot.
        The caller keeps (and closes) its ``child_fds``: the zygote gets copies. ``jail``: chroot the
        child into the zygote's file-system jail (only when :attr:`jail_active`; ``cwd`` must be in it).

        Raises:
            ZygoteUnavailable: the request could not be delivered or was not answered in time
                (nothing of this run is left running; the caller may use a fresh interpreter).
        """
        if not self.alive or self._sock is None:
            raise ZygoteUnavailable("the sandbox zygote is not running")
        loop = asyncio.get_running_loop()
        status, status_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        status.setblocking(False)
        child = ZygoteChild(loop, status)
        data = json.dumps(
            {"op": "spawn", "argv1": argv1, "env": env, "cwd": cwd, "rlimits": rlimits, "netns": netns,
             "jail": bool(jail)}
        ).encode()
        try:
            deadline = time.monotonic() + SPAWN_TIMEOUT_SECONDS
            while True:
                try:
                    socket.send_fds(self._sock, [data], [status_child.fileno()] + list(child_fds), socket.MSG_DONTWAIT)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ZygoteUnavailable("the sandbox zygote does not accept requests") from None
                    await asyncio.sleep(0.002)
                except OSError as exc:
                    raise ZygoteUnavailable(f"the sandbox zygote is gone: {exc}") from None
            status_child.close()
            try:
                await asyncio.wait_for(child.started, timeout=SPAWN_TIMEOUT_SECONDS)
            except asyncio.TimeoutError:
                self.kill()  # unresponsive: replace it (its children die of their death signal)
                raise ZygoteUnavailable("the sandbox zygote did not answer") from None
            return child
        except BaseException:
            child.kill()
            child.close()  # a child forked after we stopped listening sees no status socket: its report fails
            status_child.close()
            raise


_zygotes: "dict[tuple, Zygote]" = {}
_failed_at: "dict[tuple, float]" = {}
_registry_lock = threading.Lock()


def _forget_after_fork() -> None:
    # A forked copy of this process has none of the reader threads: start its own zygotes.
    global _registry_lock
    _registry_lock = threading.Lock()
    _zygotes.clear()
    _failed_at.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


async def get_zygote(preload: "tuple[str, ...]", jail: Optional[dict] = None) -> Optional[Zygote]:
    """The running zygote for ``preload`` (started or restarted as needed), or None if unavailable.

    ``jail``: the file-system jail its children may be put in (see ``jail.py``), built at its start.
    """
    with _registry_lock:
        zygote = _zygotes.get(preload)
        if zygote is None or zygote.dead or zygote.jail != jail:
            failed = _failed_at.get(preload)
            if failed is not None and time.monotonic() - failed < RETRY_AFTER_SECONDS:
                return None
            if zygote is not None and not zygote.dead:
                zygote.kill()  # another jail was asked for (work dirs moved): start a matching one
            zygote = _zygotes[preload] = Zygote(preload, jail)
    if not zygote.ready.is_set():
        await asyncio.to_thread(zygote.ready.wait, START_TIMEOUT_SECONDS + 5)
    if not zygote.alive:
        with _registry_lock:
            if _zygotes.get(preload) is zygote and zygote.pid is None:
                _failed_at[preload] = time.monotonic()  # never came up: back off
        return None
    return zygote


def zygote_pid(preload: "tuple[str, ...]") -> Optional[int]:
    """Pid of this process's live zygote (its coordinator) for ``preload``, or None (for tests and diagnostics)."""
    zygote = _zygotes.get(preload)
    return zygote.pid if zygote is not None and zygote.alive else None


def forker_pid(preload: "tuple[str, ...]") -> Optional[int]:
    """Pid of the live zygote's forker for ``preload`` (the parent of its runs), or None."""
    zygote = _zygotes.get(preload)
    return zygote.forker_pid if zygote is not None and zygote.alive else None
