"""Process isolation for untrusted Python: the project's sandbox.

Every run is a child process, by default forked from a warm fork-server (``mode="zygote"``, see
:mod:`.zygote`), else a fresh ``python -I -S`` interpreter (``mode="spawn"``, also the automatic
fallback; isolated mode, no site-packages; the design boot adds only the project root to
``sys.path``). Both modes apply the same protections:

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
import socket
import sys
import time
from typing import Any, Awaitable, Callable, Optional

from verl_metaagent.sandbox.cleanup import sweeper
from verl_metaagent.sandbox.hostdirs import make_work_dir, memory_work_root
from verl_metaagent.sandbox.limits import SandboxLimits, SandboxResult
from verl_metaagent.sandbox.uids import claim_uid, release_uid, uid_was_left_clean
from verl_metaagent.sandbox.zygote import BASE_ENV, ZygoteProcess, ZygoteUnavailable, get_zygote

__all__ = ["memory_work_root", "run_in_sandbox", "run_python", "run_python_sync", "active_protections"]

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

#: Modules every child has imported before its code runs (the interpreter's own files may be
#: unreadable once the uid is dropped); also the warm-up code of the default zygote.
PRELOAD = r"""
import sys, os, io, json, math, re, time, resource, selectors, signal, collections, itertools, functools
import heapq, bisect, string, random, fractions, decimal, statistics, operator, copy, typing, array
import traceback, builtins, struct, queue, threading, enum, dataclasses, datetime, cmath, numbers, abc
import keyword, textwrap, pprint, hashlib, base64, locale, encodings.idna, unicodedata
import calendar, contextlib, gc, weakref, collections.abc, zlib
import ctypes
"""

#: Child prelude: pre-import what untrusted code commonly uses (:data:`PRELOAD`; already imported in
#: a zygote child), and parse the sandbox args into ``_a``.
PRELUDE = PRELOAD + r"""_a = json.loads(sys.argv[1])
"""

#: Child drop sequence: leave the network, chdir to the work dir, drop to the run's uid, cap processes.
DROP_PRIVILEGES = r"""
if _a["netns"]:
    if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:
        os._exit(97)
os.chdir(_a["cwd"])
if _a["uid"] is not None:
    # Keep the standard library importable when the interpreter lives in a directory the run's uid
    # cannot traverse (e.g. /root/.pyenv, a conda env in a private home): open the stdlib dirs now
    # and import through /proc/self/fd/<n>, which reaches the directory without searching its
    # ancestors. Read-only; nothing outside those directories' own (world-readable) subtrees opens.
    _libdirs = [p for p in sys.path if p and os.path.isdir(p)]
    _libfds = [os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in _libdirs]
    os.setgroups([])
    os.setgid(_a["uid"]); os.setuid(_a["uid"])
    resource.setrlimit(resource.RLIMIT_NPROC, (_a["nproc"], _a["nproc"]))
    if not all(os.access(p, os.R_OK | os.X_OK) for p in _libdirs):
        ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/fd is ours again after setuid
        sys.path[:0] = ["/proc/self/fd/%d" % fd for fd in _libfds]
    else:
        for _fd in _libfds:
            os.close(_fd)
    del _libdirs, _libfds
if _a.get("pdeathsig"):
    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG (the uid change cleared it): die with the zygote
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
        # a process that escaped the group kill still holds a pipe: stop waiting
        if isinstance(proc, ZygoteProcess):
            proc.close()
        else:
            proc._transport.close()


class SandboxAbort(Exception):
    """Raised by a ``serve`` coroutine to stop the child: ``status`` and ``reason`` end the run."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


Serve = Callable[[asyncio.StreamReader, Any], Awaitable[None]]


#: Environment variable choosing the default mode: ``zygote`` (default) or ``spawn``.
MODE_ENV = "VERL_METAAGENT_SANDBOX_MODE"
MODES = ("zygote", "spawn")


def default_mode() -> str:
    """The mode used when a call passes ``mode=None``: ``$VERL_METAAGENT_SANDBOX_MODE`` or ``zygote``."""
    mode = os.environ.get(MODE_ENV, "").strip().lower() or "zygote"
    if mode not in MODES:
        raise ValueError(f"{MODE_ENV}={mode!r}: expected one of {MODES}")
    return mode


def _zygote_supported() -> bool:
    return all(hasattr(m, n) for m, n in ((os, "pidfd_open"), (signal, "pidfd_send_signal"), (socket, "send_fds")))


async def run_in_sandbox(
    boot: str,
    boot_args: dict,
    *,
    stdin: str = "",
    limits: SandboxLimits = SandboxLimits(),
    files: Optional[dict] = None,
    serve: Optional[Serve] = None,
    extra_env: Optional[dict] = None,
    mode: Optional[str] = None,
    preload: str = PRELOAD,
    work_root: Optional[str] = None,
) -> SandboxResult:
    """Run python ``boot`` (gets ``sys.argv[1]`` = JSON of ``boot_args`` + sandbox fields) in a child.

    ``boot`` runs as root (when the parent is root) until it calls the drop sequence it is given
    in its args (``netns``, ``cwd``, ``uid``, ``nproc``, ``pdeathsig``); see :data:`_BOOT`. ``files``
    are written to the work dir first (``src`` in ``boot_args`` may name one). With ``serve``, two
    pipes are passed to the child (fds in ``boot_args['channel']`` = ``[read_fd, write_fd]``) and
    ``serve(reader, write)`` runs in the parent for the child's lifetime; it may raise
    :class:`SandboxAbort` to end the run with its status.

    ``mode``: ``"zygote"`` forks the child from a warm fork-server that has run ``preload``
    (trusted warm-up code, e.g. imports; one server per distinct ``preload`` and process);
    ``"spawn"`` starts a fresh interpreter; ``None`` -> :func:`default_mode`. ``work_root``: where
    the throw-away work dir is made (default: the system temp dir; see :func:`memory_work_root`).
    A zygote that cannot
    start or fork falls back to ``spawn`` (``detail['mode']`` says which ran). ``extra_env`` with
    ``PYTHON*`` variables always spawns (they only act at interpreter start).
    """
    mode = mode or default_mode()
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MODES}")
    if mode == "zygote" and (not _zygote_supported() or any(k.startswith("PYTHON") for k in (extra_env or {}))):
        mode = "spawn"
    prot = active_protections()
    work = make_work_dir(work_root)
    uid = uid_fd = None
    uid_empty = False  # known: no process of the run's uid is alive
    if prot["unprivileged_uid"]:
        try:
            claim = claim_uid()
            reason = "no free sandbox uid"
        except OSError as exc:
            claim, reason = None, f"sandbox uid locks unusable: {exc}"
        if claim is None:
            shutil.rmtree(work, ignore_errors=True)
            return SandboxResult("error", None, "", "", 0.0, {"reason": reason})
        uid, uid_fd = claim
    t0 = time.monotonic()
    proc = None
    child_fds: list[int] = []
    parent_fds: list[int] = []
    try:
        if uid is not None and not uid_was_left_clean(uid_fd):
            await sweeper().clean(uid)  # leftovers of a parent that crashed mid-run
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
        env = {**BASE_ENV, "HOME": work, "TMPDIR": work, **(extra_env or {})}
        mem = int(limits.memory_mb) << 20
        cpu = max(1, int(limits.cpu_seconds + 0.999))
        if mode == "zygote":
            zygote = await get_zygote(preload)
            if zygote is not None:
                # The zygote puts the child in the network namespace (a reused empty one per uid,
                # else a fresh one) before the boot runs; the boot's drop sequence skips it.
                netns_key = (uid if uid is not None else -1) if args["netns"] else None
                zargs = dict(args, pdeathsig=True, netns=False)
                if child_fds:
                    zargs["channel"] = [3, 4]  # the zygote child gets them as fds 3, 4
                try:
                    proc = await zygote.spawn(
                        boot, json.dumps(zargs), env, work, {"mem": mem, "cpu": cpu, "fsize": 1 << 30}, child_fds,
                        with_stdin=bool(stdin), netns=netns_key,
                    )
                except ZygoteUnavailable:
                    proc = None
            if proc is None:
                mode = "spawn"
                if uid is not None:  # a child forked before the zygote failed dies here
                    await sweeper().clean(uid, files=False)
        if proc is None:
            if child_fds:
                args["channel"] = list(child_fds)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", "-c", boot, json.dumps(args),  # no site-packages in the child
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=env, cwd=work, preexec_fn=lambda: _preexec(mem, cpu, 1 << 30), pass_fds=tuple(child_fds),
            )
        for fd in child_fds:
            os.close(fd)
        child_fds = []
        forked = isinstance(proc, ZygoteProcess)
        out, err, over = bytearray(), bytearray(), []

        def kill_group() -> None:
            if forked:
                proc.kill()
            else:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass

        async def feed() -> None:
            try:
                proc.stdin.write(stdin.encode())
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass

        async def channel() -> None:
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
            # still hold the output or channel pipes: kill its group, and every process of the
            # run's uid if the pipes are still open shortly after.
            nonlocal uid_empty
            if forked:
                await proc.wait()
            else:
                while proc.returncode is None:
                    await asyncio.sleep(0.02)
            kill_group()
            if uid is not None:
                _, still_open = await asyncio.wait(pipe_tasks, timeout=_PIPE_GRACE_SECONDS)
                if still_open:
                    uid_empty = await sweeper().clean(uid, files=False)

        pipe_tasks: list[asyncio.Task] = []

        async def body() -> None:
            pipe_tasks.extend(
                asyncio.ensure_future(c)
                for c in (
                    _read_capped(proc.stdout, limits.max_output_bytes, out, over),
                    _read_capped(proc.stderr, limits.max_output_bytes, err, over),
                    *((channel(),) if serve is not None else ()),
                )
            )
            io_tasks.extend(pipe_tasks)
            io_tasks.append(asyncio.ensure_future(reap_descendants()))
            if proc.stdin is not None:
                io_tasks.append(asyncio.ensure_future(feed()))
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
            uid_empty = False
            kill_group()
            await _reap(proc)
        rc = proc.returncode
        if status == "ok" and rc != 0:
            if rc == -signal.SIGXCPU:
                status = "timeout"
            elif rc is not None and rc < 0:
                status = "killed"
            else:
                status = "error"
        if forked and proc.zygote_died:
            detail.setdefault("reason", "the sandbox zygote died during the run")
        detail["protections"] = prot
        detail["mode"] = mode
        return SandboxResult(status, rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                             time.monotonic() - t0, detail)
    finally:
        if proc is not None:
            if proc.returncode is None:
                uid_empty = False
                if isinstance(proc, ZygoteProcess):
                    proc.kill()
                else:
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)
                    except OSError:
                        pass
            if isinstance(proc, ZygoteProcess):
                proc.close()
        for fd in child_fds + parent_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if uid is not None:
            clean = await sweeper().clean(uid, processes=not uid_empty) or uid_empty
            release_uid(uid_fd, clean, uid)
        shutil.rmtree(work, ignore_errors=True)


#: After the main child exited, how long its pipes may stay open before every process of its uid is killed.
_PIPE_GRACE_SECONDS = 0.05

#: Longest JSON line a child may send on its channel (bigger -> the run is aborted).
_CHANNEL_LINE_LIMIT = 4 << 20


async def run_python(
    source: str,
    *,
    stdin: str = "",
    limits: SandboxLimits = SandboxLimits(),
    files: Optional[dict] = None,
    mode: Optional[str] = None,
) -> SandboxResult:
    """Run untrusted ``source`` with ``stdin`` under ``limits`` in a throw-away work dir.

    ``mode``: ``"zygote"`` / ``"spawn"`` / ``None`` (default), as in :func:`run_in_sandbox`.
    """
    files = dict(files or {})
    files[".src.py"] = source
    return await run_in_sandbox(_BOOT, {"src": ".src.py"}, stdin=stdin, limits=limits, files=files, mode=mode)


def run_python_sync(source: str, **kwargs: Any) -> SandboxResult:
    """Blocking :func:`run_python` (runs its own event loop; do not call from inside one)."""
    return asyncio.run(run_python(source, **kwargs))
