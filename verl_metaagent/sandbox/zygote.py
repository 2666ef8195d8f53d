"""Parent side of the sandbox fork-server ("zygote"): warm children in a few milliseconds.

A fresh ``python -I -S`` child spends ~100 ms importing what untrusted code and the design API
need. The zygote (``_zygote_main.py``) is one long-lived helper per parent process and warm-up
code: started lazily with the scrubbed environment, it runs the warm-up imports once and forks a
child per run; the child applies the run's protections and runs the boot code (see
:func:`verl_metaagent.sandbox.run_in_sandbox`).

Lifetime: each zygote belongs to a daemon thread of this process that started it and reads its
messages; the zygote dies with that thread (``PR_SET_PDEATHSIG``) or when its control socket
closes, and a dead zygote is replaced on the next run. A zygote that fails to start makes the
sandbox fall back to fresh interpreters for :data:`RETRY_AFTER_SECONDS`.

Trust: the zygote never runs untrusted code; what it sends back is parsed as JSON integers
only. Runs are killed through a pidfd (no pid reuse race), their group and their uid.
"""

from __future__ import annotations

import asyncio
import itertools
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


def _deliver(loop: asyncio.AbstractEventLoop, fn, *args) -> bool:
    try:
        loop.call_soon_threadsafe(fn, *args)
        return True
    except RuntimeError:  # the run's event loop is closed
        return False


def _set(future: asyncio.Future, value) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future, exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)


def _kill_pidfd(pidfd: Optional[int]) -> None:
    if pidfd is None:
        return
    try:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass


class ZygoteProcess:
    """One run forked by the zygote; offers what ``run_in_sandbox`` uses of ``asyncio.subprocess.Process``.

    ``stdin`` is a ``StreamWriter``, ``stdout`` / ``stderr`` are ``StreamReader``; ``returncode``
    follows the subprocess convention (negative signal number when killed).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.pid: Optional[int] = None
        self.pidfd: Optional[int] = None
        self.returncode: Optional[int] = None
        self.zygote_died = False
        self.stdin = self.stdout = self.stderr = None
        self._started: asyncio.Future = loop.create_future()
        self._exited: asyncio.Future = loop.create_future()
        self._transports: list = []

    # called on the run's loop (via _deliver) -------------------------------------------------
    def _on_started(self, pid: int, pidfd: int) -> None:
        if self._started.done():  # the run gave up waiting: do not leave the child running
            _kill_pidfd(pidfd)
            os.close(pidfd)
            return
        self.pid, self.pidfd = pid, pidfd
        self._started.set_result(pid)

    def _on_exit(self, returncode: int, zygote_died: bool = False) -> None:
        if self.returncode is None:
            self.returncode = returncode
            self.zygote_died = zygote_died
        _set(self._exited, self.returncode)

    # the Process-like API --------------------------------------------------------------------
    async def wait(self) -> int:
        """Wait for the child to exit; return its return code."""
        return await asyncio.shield(self._exited)

    def kill(self) -> None:
        """SIGKILL the child (by pidfd) and its process group."""
        if self.returncode is None:
            _kill_pidfd(self.pidfd)
        if self.pid is not None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except OSError:
                pass

    def close(self) -> None:
        """Release the pipes and the pidfd (after the run)."""
        for transport in self._transports:
            transport.close()
        self._transports.clear()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class Zygote:
    """One fork-server process and the daemon thread that started it and reads its replies."""

    def __init__(self, preload: str):
        self.preload = preload
        self.ready = threading.Event()
        self.dead = False
        self.pid: Optional[int] = None
        self._sock: Optional[socket.socket] = None
        self._popen: Optional[subprocess.Popen] = None
        self._lock = threading.Lock()
        self._pending: dict[int, ZygoteProcess] = {}
        self._ids = itertools.count(1)
        self._thread = threading.Thread(target=self._main, name="sandbox-zygote", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Started and not known to be dead."""
        return self.ready.is_set() and not self.dead

    # reader thread -----------------------------------------------------------------------------
    def _main(self) -> None:
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            config = {"parent_pid": os.getpid(), "control_fd": child.fileno(), "preload": self.preload}
            # Started from this (long-lived) thread: PR_SET_PDEATHSIG follows the creating thread.
            self._popen = subprocess.Popen(
                [sys.executable, "-I", "-S", _MAIN, json.dumps(config)],
                env=dict(BASE_ENV, HOME="/nonexistent"), cwd="/", stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, pass_fds=(child.fileno(),), close_fds=True,
            )
            child.close()
            parent.settimeout(START_TIMEOUT_SECONDS)
            hello = json.loads(parent.recv(_MAX_MESSAGE) or b"{}")
            parent.settimeout(None)
            if not isinstance(hello.get("ready"), int):
                raise RuntimeError(f"unexpected greeting {hello!r}")
            self.pid = self._popen.pid
            self._sock = parent
            self.ready.set()
            self._read(parent)
        except Exception as exc:  # start-up failed: callers fall back to fresh interpreters
            logger.warning("sandbox zygote failed: %s: %s", type(exc).__name__, exc)
        finally:
            self._die()
            child.close()
            parent.close()

    def _read(self, sock: socket.socket) -> None:
        while True:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_MESSAGE, 2)
            if not data:
                for fd in fds:
                    os.close(fd)
                return
            try:
                message = json.loads(data)
                rid = int(message["id"])
                for key in ("pid", "exit"):
                    if key in message:
                        message[key] = int(message[key])
            except (ValueError, TypeError, KeyError, OverflowError):
                for fd in fds:
                    os.close(fd)
                continue
            with self._lock:
                proc = self._pending.get(rid)
                if proc is not None and ("exit" in message or "error" in message):
                    del self._pending[rid]
            if "pid" in message and len(fds) == 1:
                pid, pidfd = message["pid"], fds[0]
                if proc is None or not _deliver(proc.loop, proc._on_started, pid, pidfd):
                    _kill_pidfd(pidfd)
                    os.close(pidfd)
            elif "exit" in message:
                for fd in fds:
                    os.close(fd)
                if proc is not None:
                    _deliver(proc.loop, proc._on_exit, message["exit"])
            elif "error" in message:
                for fd in fds:
                    os.close(fd)
                if proc is not None:
                    _deliver(proc.loop, _fail, proc._started, ZygoteUnavailable(str(message["error"])[:200]))
            else:
                for fd in fds:
                    os.close(fd)

    def _die(self) -> None:
        """The zygote is gone: its unsupervised runs are killed and reported as killed."""
        self.dead = True
        self.ready.set()
        with self._lock:
            pending, self._pending = self._pending, {}
        for proc in pending.values():
            def finish(proc=proc):
                proc.kill()
                _fail(proc._started, ZygoteUnavailable("the sandbox zygote died"))
                proc._on_exit(-signal.SIGKILL, zygote_died=True)

            _deliver(proc.loop, finish)
        if self._popen is not None:
            try:
                self._popen.kill()
            except OSError:
                pass
            self._popen.wait()

    # any thread / event loop -------------------------------------------------------------------
    def kill(self) -> None:
        """Kill the zygote process (its reader thread then fails the pending runs)."""
        if self._popen is not None:
            try:
                self._popen.kill()
            except OSError:
                pass

    async def spawn(
        self, boot: str, argv1: str, env: dict, cwd: str, rlimits: dict, extra_fds: list, with_stdin: bool = True
    ) -> ZygoteProcess:
        """Fork a child running ``boot``; its fds 0-2 are new pipes, fds 3.. are ``extra_fds``.

        Without ``with_stdin`` the child's stdin is ``/dev/null`` and ``proc.stdin`` is None.

        Raises:
            ZygoteUnavailable: the request could not be delivered or was not answered in time
                (nothing of this run is left running; the caller may use a fresh interpreter).
        """
        if not self.alive or self._sock is None:
            raise ZygoteUnavailable("the sandbox zygote is not running")
        loop = asyncio.get_running_loop()
        proc = ZygoteProcess(loop)
        rid = next(self._ids)
        if with_stdin:
            stdin_r, stdin_w = os.pipe()
        else:
            stdin_r, stdin_w = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC), None
        stdout_r, stdout_w = os.pipe()
        stderr_r, stderr_w = os.pipe()
        child_ends = [stdin_r, stdout_w, stderr_w]
        parent_ends = [stdin_w, stdout_r, stderr_r]
        data = json.dumps(
            {"op": "spawn", "id": rid, "boot": boot, "argv1": argv1, "env": env, "cwd": cwd, "rlimits": rlimits}
        ).encode()
        with self._lock:
            self._pending[rid] = proc
        try:
            deadline = time.monotonic() + SPAWN_TIMEOUT_SECONDS
            while True:
                try:
                    socket.send_fds(self._sock, [data], child_ends + list(extra_fds), socket.MSG_DONTWAIT)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ZygoteUnavailable("the sandbox zygote does not accept requests") from None
                    await asyncio.sleep(0.002)
                except OSError as exc:
                    raise ZygoteUnavailable(f"the sandbox zygote is gone: {exc}") from None
            for fd in child_ends:
                os.close(fd)
            child_ends = []
            try:
                await asyncio.wait_for(asyncio.shield(proc._started), timeout=SPAWN_TIMEOUT_SECONDS)
            except asyncio.TimeoutError:
                self.kill()  # unresponsive: replace it (its children die of their death signal)
                raise ZygoteUnavailable("the sandbox zygote did not answer") from None
            fd, stdout_r = stdout_r, None
            proc.stdout = await self._reader(loop, proc, fd)
            fd, stderr_r = stderr_r, None
            proc.stderr = await self._reader(loop, proc, fd)
            if stdin_w is not None:
                fd, stdin_w = stdin_w, None
                transport, protocol = await loop.connect_write_pipe(
                    asyncio.streams.FlowControlMixin, os.fdopen(fd, "wb", buffering=0)
                )
                proc._transports.append(transport)
                proc.stdin = asyncio.StreamWriter(transport, protocol, None, loop)
            return proc
        except BaseException:
            with self._lock:
                self._pending.pop(rid, None)
            if not proc._started.done():
                proc._started.cancel()  # a late pid message then kills the child
            proc.kill()
            proc.close()
            for fd in child_ends + [fd for fd in (stdin_w, stdout_r, stderr_r) if fd is not None]:
                os.close(fd)
            raise

    @staticmethod
    async def _reader(loop, proc: ZygoteProcess, fd: int) -> asyncio.StreamReader:
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        proc._transports.append(transport)
        return reader


_zygotes: dict[str, Zygote] = {}
_failed_at: dict[str, float] = {}
_registry_lock = threading.Lock()


def _forget_after_fork() -> None:
    # A forked copy of this process has none of the reader threads: start its own zygotes.
    global _registry_lock
    _registry_lock = threading.Lock()
    _zygotes.clear()
    _failed_at.clear()


os.register_at_fork(after_in_child=_forget_after_fork)


async def get_zygote(preload: str) -> Optional[Zygote]:
    """The running zygote for ``preload`` (started or restarted as needed), or None if unavailable."""
    with _registry_lock:
        zygote = _zygotes.get(preload)
        if zygote is None or zygote.dead:
            failed = _failed_at.get(preload)
            if failed is not None and time.monotonic() - failed < RETRY_AFTER_SECONDS:
                return None
            zygote = _zygotes[preload] = Zygote(preload)
    if not zygote.ready.is_set():
        await asyncio.to_thread(zygote.ready.wait, START_TIMEOUT_SECONDS + 5)
    if not zygote.alive:
        with _registry_lock:
            if _zygotes.get(preload) is zygote and zygote.pid is None:
                _failed_at[preload] = time.monotonic()  # never came up: back off
        return None
    return zygote


def zygote_pid(preload: str) -> Optional[int]:
    """Pid of this process's live zygote for ``preload``, or None (for tests and diagnostics)."""
    zygote = _zygotes.get(preload)
    return zygote.pid if zygote is not None and zygote.alive else None
