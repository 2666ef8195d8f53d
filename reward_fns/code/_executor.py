"""Where untrusted code runs: the project's sandbox, or a temporary stand-in.

``run_python(source, *, stdin, limits)`` is ``verl_metaagent.sandbox.run_python`` when that
module exists (the contract in docs/architecture.md). Until it lands, this file provides a thin
stand-in with the same call shape — the only place to touch when swapping:

* a fresh ``python -I -S`` per call, new session (killed as a group at the wall deadline);
* rlimits: address space, CPU seconds, file size, no core files, open files;
* environment scrubbed (PATH, LANG, HOME=work dir only): the grader's secrets are not visible;
* when running as root: a new network namespace (no network), then — after the interpreter has
  started and pre-imported the stdlib modules solutions use — drop to a per-call unprivileged
  uid (distinct for concurrent calls) so RLIMIT_NPROC caps processes and nothing outside the
  throw-away work dir is writable;
* stdout/stderr capped at ``max_output_bytes`` (the run is killed beyond it).

``active_protections()`` says which of these apply on this host.
"""

from __future__ import annotations

import asyncio
import ctypes
import resource
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

try:  # the project's sandbox, when present
    from verl_metaagent.sandbox import SandboxLimits, SandboxResult, run_python  # type: ignore  # noqa: F401

    USING_PROJECT_SANDBOX = True
except ImportError:  # pragma: no cover - depends on the tree's state
    USING_PROJECT_SANDBOX = False

    @dataclass
    class SandboxLimits:  # type: ignore[no-redef]
        """Same fields as ``verl_metaagent.sandbox.SandboxLimits``."""

        wall_seconds: float = 10.0
        cpu_seconds: float = 10.0
        memory_mb: int = 1024
        max_processes: int = 16
        max_output_bytes: int = 1 << 20
        allow_network: bool = False

    @dataclass
    class SandboxResult:  # type: ignore[no-redef]
        """Same fields as ``verl_metaagent.sandbox.SandboxResult``."""

        status: str
        exit_code: Optional[int]
        stdout: str
        stderr: str
        wall_seconds: float
        detail: dict = field(default_factory=dict)

    _UID_BASE = 61000
    _UID_SLOTS = 2048
    _UID_LOCK_DIR = "/tmp/reward_fns_sandbox_uids"
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
        """Which isolation layers the stand-in applies on this host."""
        global _NETNS
        if _NETNS is None:
            _NETNS = _net_namespace_works()
        return {
            "rlimits": True,
            "scrubbed_env": True,
            "network_namespace": bool(_NETNS),
            "unprivileged_uid": _IS_ROOT,
            "process_cap": _IS_ROOT,
            "project_sandbox": False,
        }

    # Runs first in the child (as root when the grader is root): import what solutions use,
    # leave the network, drop to the call's uid, cap processes, then exec the real source.
    _BOOT = r"""
import sys, os, io, json, math, re, time, resource, selectors, signal, collections, itertools, functools
import heapq, bisect, string, random, fractions, decimal, statistics, operator, copy, typing, array
import traceback, builtins, struct, queue, threading, enum, dataclasses, datetime, cmath, numbers, abc
import keyword, textwrap, pprint, hashlib, base64, locale, encodings.idna, unicodedata
import calendar, contextlib, gc, weakref, collections.abc, zlib
import ctypes
import resource
_a = json.loads(sys.argv[1])
if _a["netns"]:
    if ctypes.CDLL(None, use_errno=True).unshare(0x40000000) != 0:
        os._exit(97)
os.chdir(_a["cwd"])
if _a["uid"] is not None:
    os.setgroups([])
    os.setgid(_a["uid"]); os.setuid(_a["uid"])
    resource.setrlimit(resource.RLIMIT_NPROC, (_a["nproc"], _a["nproc"]))
del ctypes
_src = open(_a["src"]).read()
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
                return
            out.extend(chunk)

    async def run_python(  # type: ignore[no-redef]
        source: str, *, stdin: str = "", limits: SandboxLimits = SandboxLimits(), files: Optional[dict] = None
    ) -> SandboxResult:
        """Run ``source`` with ``stdin`` under ``limits`` in a throw-away work dir (stand-in)."""
        prot = active_protections()
        work = tempfile.mkdtemp(prefix="rfsbx_")
        uid = None
        if prot["unprivileged_uid"]:
            claim = _claim_uid()
            if claim is None:
                shutil.rmtree(work, ignore_errors=True)
                return SandboxResult("error", None, "", "", 0.0, {"reason": "no free sandbox uid"})
            uid, uid_fd = claim
            await asyncio.to_thread(_kill_uid, uid)  # leftovers of a grader that crashed mid-run
        t0 = time.monotonic()
        proc = None
        try:
            src_path = os.path.join(work, ".src.py")
            with open(src_path, "w") as f:
                f.write(source)
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
                os.chmod(src_path, 0o400)
            import json as _json

            arg = _json.dumps({
                "netns": bool(prot["network_namespace"] and not limits.allow_network),
                "cwd": work, "uid": uid, "nproc": int(limits.max_processes), "src": src_path,
            })
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work,
                   "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}
            mem = int(limits.memory_mb) << 20
            cpu = max(1, int(limits.cpu_seconds + 0.999))
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", "-c", _BOOT, arg,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env=env, cwd=work, preexec_fn=lambda: _preexec(mem, cpu, 1 << 30),
            )
            out, err, over = bytearray(), bytearray(), []

            async def feed() -> None:
                try:
                    proc.stdin.write(stdin.encode())
                    await proc.stdin.drain()
                    proc.stdin.close()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            async def body() -> None:
                await asyncio.gather(
                    feed(),
                    _read_capped(proc.stdout, limits.max_output_bytes, out, over),
                    _read_capped(proc.stderr, limits.max_output_bytes, err, over),
                )
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
            if proc.returncode is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                await proc.wait()
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
            if uid is not None:
                await asyncio.to_thread(_kill_uid, uid)
                _release_uid(uid_fd)
            shutil.rmtree(work, ignore_errors=True)

if USING_PROJECT_SANDBOX:
    try:
        from verl_metaagent.sandbox import active_protections  # type: ignore  # noqa: F401
    except ImportError:  # pragma: no cover
        def active_protections() -> dict[str, bool]:
            return {"project_sandbox": True}
