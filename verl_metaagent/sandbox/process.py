"""Process isolation for untrusted Python: the project's sandbox.

Every run is a fresh ``python -I -S`` child (isolated mode, no site-packages; the design boot adds
only the project root to ``sys.path``):

* new session/process group, killed as a group at the wall deadline;
* rlimits: address space, CPU seconds, file size, no core files, open files;
* environment scrubbed (PATH, LANG, HOME = the throw-away work dir): no secrets of the parent;
* when running as root: a private network namespace (no network at all), then -- after the
  interpreter has started and pre-imported what the child needs -- a drop to a per-run
  unprivileged uid (distinct for concurrent runs, across processes, by ``flock``), so
  RLIMIT_NPROC caps processes and nothing outside the work dir is writable;
* stdout/stderr capped at ``max_output_bytes`` (the run is killed beyond it);
* the work dir is deleted and every leftover process of the run's uid killed afterwards.

Where a layer is not available (not root, namespaces forbidden in a container), the run goes on
with the remaining layers; :func:`active_protections` reports which are active.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import Any, Awaitable, Callable, Optional

from verl_metaagent.sandbox.limits import SandboxLimits, SandboxResult

_UID_BASE = 61000
_UID_SLOTS = 2048
_UID_LOCK_DIR = "/tmp/verl_metaagent_sandbox_uids"
_uid_lock = threading.Lock()
_uid_next = [0]

def _claim_uid() -> "tuple[int, int] | None":
    """A sandbox uid no other call (in any process on this host) holds: ``(uid, lock_fd)``.

    Cross-process exclusion by ``flock`` on one lock file per uid, so graders in several
    processes never share a uid (its process cap and clean-up kill are per uid).
    """
    import fcntl

    os.makedirs(_UID_LOCK_DIR, mode=0o700, exist_ok=True)
    with _uid_lock:
        start = _uid_next[0]
        _uid_next[0] = (start + 1) % _UID_SLOTS
    offset = (os.getpid() * 131) % _UID_SLOTS
    for k in range(_UID_SLOTS):
        uid = _UID_BASE + (offset + start + k) % _UID_SLOTS
        fd = os.open(os.path.join(_UID_LOCK_DIR, str(uid)), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return uid, fd
        except OSError:
            os.close(fd)
    return None

def _release_uid(fd: int) -> None:
    os.close(fd)  # drops the flock


_IS_ROOT = os.geteuid() == 0
_CLONE_NEWNET = 0x40000000

def _net_namespace_works() -> bool:
    if not _IS_ROOT:
        return False
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid == 0:
        libc = ctypes.CDLL(None, use_errno=True)
        os._exit(0 if libc.unshare(_CLONE_NEWNET) == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0

_NETNS: Optional[bool] = None

def active_protections() -> dict[str, bool]:
    """Which isolation layers the sandbox applies on this host (computed once)."""
    global _NETNS
    if _NETNS is None:
        _NETNS = _net_namespace_works()
    return {
        "rlimits": True,
        "scrubbed_env": True,
        "network_namespace": bool(_NETNS),
        "unprivileged_uid": _IS_ROOT,
        "process_cap": _IS_ROOT,
    }

#: Child prelude: pre-import what untrusted code commonly uses (the interpreter's own files may be
#: unreadable once the uid is dropped), and parse the sandbox args into ``_a``.
PRELUDE = r"""
import sys, os, io, json, math, re, time, resource, selectors, signal, collections, itertools, functools
import heapq, bisect, string, random, fractions, decimal, statistics, operator, copy, typing, array
import traceback, builtins, struct, queue, threading, enum, dataclasses, datetime, cmath, numbers, abc
import keyword, textwrap, pprint, hashlib, base64, locale, encodings.idna, unicodedata
import calendar, contextlib, gc, weakref, collections.abc, zlib
import ctypes
_a = json.loads(sys.argv[1])
"""

#: Child drop sequence: leave the network, chdir to the work dir, drop to the run's uid, cap processes.
DROP_PRIVILEGES = r"""
if _a["netns"]:
    if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:
        os._exit(97)
os.chdir(_a["cwd"])
if _a["uid"] is not None:
    os.setgroups([])
    os.setgid(_a["uid"]); os.setuid(_a["uid"])
    resource.setrlimit(resource.RLIMIT_NPROC, (_a["nproc"], _a["nproc"]))
"""

# One-shot program runner (run_python): prelude, drop, exec the source as __main__.
_BOOT = PRELUDE + DROP_PRIVILEGES + r"""
del ctypes
_src = open(os.path.join(_a["cwd"], _a["src"])).read()
del _a
sys.argv = ["main"]
exec(compile(_src, "<sandbox>", "exec"), {"__name__": "__main__"})
"""


def _preexec(mem: int, cpu: int, fsize: int) -> None:
    os.setsid()
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))



def _kill_uid(uid: int) -> None:
    """Kill every process left running under a sandbox uid (escaped sessions)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass

async def _read_capped(stream, cap: int, out: bytearray, over: list) -> None:
    while True:
        chunk = await stream.read(65536)
        if not chunk:
            return
        if len(out) + len(chunk) > cap:
            out.extend(chunk[: cap - len(out)])
            over.append(True)
            raise OverflowError  # stop at once: the child may block on a full pipe until killed
        out.extend(chunk)

async def _drain(stream) -> None:
    """Read a pipe to EOF, discarding: Python 3.11's ``Process.wait`` only returns once every pipe closed."""
    while await stream.read(1 << 16):
        pass


async def _reap(proc) -> None:
    """Wait for a killed child: drain its pipes (a reader stopped at the output cap left data unread)."""
    try:
        await asyncio.wait_for(asyncio.gather(_drain(proc.stdout), _drain(proc.stderr)), timeout=10)
    except (asyncio.TimeoutError, OSError):
        pass
    try:
        await asyncio.wait_for(proc.wait(), timeout=10)
    except asyncio.TimeoutError:
        proc._transport.close()  # a process that escaped the group kill still holds a pipe: stop waiting


class SandboxAbort(Exception):
    """Raised by a ``serve`` coroutine to stop the child: ``status`` and ``reason`` end the run."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


Serve = Callable[[asyncio.StreamReader, Any], Awaitable[None]]


async def run_in_sandbox(
    boot: str,
    boot_args: dict,
    *,
    stdin: str = "",
    limits: SandboxLimits = SandboxLimits(),
    files: Optional[dict] = None,
    serve: Optional[Serve] = None,
    extra_env: Optional[dict] = None,
) -> SandboxResult:
    """Run python ``boot`` (gets ``sys.argv[1]`` = JSON of ``boot_args`` + sandbox fields) in a child.

    ``boot`` runs as root (when the parent is root) until it calls the drop sequence it is given
    in its args (``netns``, ``cwd``, ``uid``, ``nproc``); see :data:`_BOOT`. ``files`` are written
    to the work dir first (``src`` in ``boot_args`` may name one). With ``serve``, two pipes are
    passed to the child (fds in ``boot_args['channel']`` = ``[read_fd, write_fd]``) and
    ``serve(reader, write)`` runs in the parent for the child's lifetime; it may raise
    :class:`SandboxAbort` to end the run with its status.
    """
    prot = active_protections()
    work = tempfile.mkdtemp(prefix="vmsbx_")
    uid = uid_fd = None
    if prot["unprivileged_uid"]:
        claim = _claim_uid()
        if claim is None:
            shutil.rmtree(work, ignore_errors=True)
            return SandboxResult("error", None, "", "", 0.0, {"reason": "no free sandbox uid"})
        uid, uid_fd = claim
        await asyncio.to_thread(_kill_uid, uid)  # leftovers of a parent that crashed mid-run
    t0 = time.monotonic()
    proc = None
    child_fds: list[int] = []
    parent_fds: list[int] = []
    try:
        for name, content in (files or {}).items():
            path = os.path.join(work, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w" if isinstance(content, str) else "wb") as f:
                f.write(content)
        if uid is not None:
            for root, dirs, fnames in os.walk(work):
                for n in dirs + fnames:
                    os.chown(os.path.join(root, n), uid, uid)
            os.chown(work, uid, uid)
        args = dict(boot_args)
        args.update(
            netns=bool(prot["network_namespace"] and not limits.allow_network),
            cwd=work,
            uid=uid,
            nproc=int(limits.max_processes),
        )
        if serve is not None:
            to_child_r, to_child_w = os.pipe()
            from_child_r, from_child_w = os.pipe()
            child_fds, parent_fds = [to_child_r, from_child_w], [to_child_w, from_child_r]
            args["channel"] = [to_child_r, from_child_w]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work,
               "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", **(extra_env or {})}
        mem = int(limits.memory_mb) << 20
        cpu = max(1, int(limits.cpu_seconds + 0.999))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", "-c", boot, json.dumps(args),  # no site-packages in the child
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=env, cwd=work, preexec_fn=lambda: _preexec(mem, cpu, 1 << 30), pass_fds=tuple(child_fds),
        )
        for fd in child_fds:
            os.close(fd)
        child_fds = []
        out, err, over = bytearray(), bytearray(), []

        async def feed() -> None:
            try:
                proc.stdin.write(stdin.encode())
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass

        async def channel() -> None:
            if serve is None:
                return
            loop = asyncio.get_running_loop()
            reader = asyncio.StreamReader(limit=_CHANNEL_LINE_LIMIT)
            read_file = os.fdopen(parent_fds[1], "rb", buffering=0)
            write_fd = parent_fds[0]
            parent_fds.clear()
            transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), read_file)

            def write(message: dict) -> None:
                data = (json.dumps(message) + "\n").encode()
                try:
                    os.write(write_fd, data)  # replies are small; a dead child gives EPIPE
                except OSError:
                    pass

            try:
                await serve(reader, write)
            finally:
                transport.close()
                os.close(write_fd)

        io_tasks: list[asyncio.Task] = []

        async def reap_descendants() -> None:
            # When the main child exits, processes it left behind (possibly in new sessions) may
            # still hold the output pipes: kill its group and every process of the run's uid.
            while proc.returncode is None:
                await asyncio.sleep(0.02)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            if uid is not None:
                await asyncio.to_thread(_kill_uid, uid)

        async def body() -> None:
            io_tasks.extend(
                asyncio.ensure_future(c)
                for c in (
                    feed(),
                    channel(),
                    reap_descendants(),
                    _read_capped(proc.stdout, limits.max_output_bytes, out, over),
                    _read_capped(proc.stderr, limits.max_output_bytes, err, over),
                )
            )
            await asyncio.gather(*io_tasks)
            if over:
                raise OverflowError
            await proc.wait()

        status, detail = "ok", {}
        try:
            await asyncio.wait_for(body(), timeout=limits.wall_seconds)
        except asyncio.TimeoutError:
            status = "timeout"
        except OverflowError:
            status = "output_limit"
        except SandboxAbort as abort:
            status, detail["reason"] = abort.status, abort.reason
        for task in io_tasks:  # siblings of a failed reader/serve keep running otherwise
            task.cancel()
        await asyncio.gather(*io_tasks, return_exceptions=True)
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            await _reap(proc)
        rc = proc.returncode
        if status == "ok" and rc != 0:
            if rc == -signal.SIGXCPU:
                status = "timeout"
            elif rc is not None and rc < 0:
                status = "killed"
            else:
                status = "error"
        detail["protections"] = prot
        return SandboxResult(status, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                             time.monotonic() - t0, detail)
    finally:
        if proc is not None and proc.returncode is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        for fd in child_fds + parent_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if uid is not None:
            await asyncio.to_thread(_kill_uid, uid)
            _release_uid(uid_fd)
        shutil.rmtree(work, ignore_errors=True)


#: Longest JSON line a child may send on its channel (bigger -> the run is aborted).
_CHANNEL_LINE_LIMIT = 4 << 20


async def run_python(
    source: str, *, stdin: str = "", limits: SandboxLimits = SandboxLimits(), files: Optional[dict] = None
) -> SandboxResult:
    """Run untrusted ``source`` with ``stdin`` under ``limits`` in a throw-away work dir."""
    files = dict(files or {})
    files[".src.py"] = source
    return await run_in_sandbox(_BOOT, {"src": ".src.py"}, stdin=stdin, limits=limits, files=files)


def run_python_sync(source: str, **kwargs: Any) -> SandboxResult:
    """Blocking :func:`run_python` (runs its own event loop; do not call from inside one)."""
    return asyncio.run(run_python(source, **kwargs))
