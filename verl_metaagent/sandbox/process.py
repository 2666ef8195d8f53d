"""Process isolation for untrusted Python: the project's sandbox.

Every run is a child process, by default forked from a warm fork-server (``mode="zygote"``, see
:mod:`.zygote`), else a fresh ``python -I -S`` interpreter (``mode="spawn"``, also the automatic
fallback; isolated mode, no site-packages; nothing of the parent's ``sys.path``). Both modes apply
the same protections:

* new session/process group, killed as a group at the wall deadline;
* rlimits: address space, CPU seconds, file size, no core files, open files;
* environment scrubbed (PATH, LANG, HOME = the throw-away work dir): no secrets of the parent;
* when running as root: a private network namespace (no network at all) and a private System V
  IPC / POSIX message queue namespace (nothing shared with, or left for, other runs), then -- after the
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
import subprocess
import sys
import time
from typing import Any, Awaitable, Callable, Optional

from verl_metaagent.sandbox.child_io import Channel, InputFeeder, LineReader, OutputCollector
from verl_metaagent.sandbox.cleanup import sweeper
from verl_metaagent.sandbox.hostdirs import make_work_dir, memory_work_root, runs_dir
from verl_metaagent.sandbox.jail import BUILD_JAIL, jail_spec, jail_works
from verl_metaagent.sandbox.limits import SandboxLimits, SandboxResult, describe_end
from verl_metaagent.sandbox.probe import check_in_child, kernel_at_least
from verl_metaagent.sandbox.uids import claim_uid, release_uid, uid_was_left_clean
from verl_metaagent.sandbox.zygote import BASE_ENV, ZygoteUnavailable, get_zygote

__all__ = ["memory_work_root", "run_in_sandbox", "run_python", "run_python_sync", "active_protections"]

_IS_ROOT = os.geteuid() == 0
_CLONE_NEWNET = 0x40000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000


def _namespace_works(flags: int) -> bool:
    """Whether a child of this process may ``unshare(flags)`` (and, for a pid namespace, fork its
    first process into it)."""

    def enter() -> bool:
        if ctypes.CDLL(None, use_errno=True).unshare(flags) != 0:
            return False
        if flags & _CLONE_NEWPID:
            pid = os.fork()
            if pid == 0:
                os._exit(0 if os.getpid() == 1 else 1)
            return os.waitpid(pid, 0)[1] == 0
        return True

    return check_in_child(enter)


_NAMESPACES: dict = {}


def active_protections() -> dict[str, bool]:
    """Which isolation layers the sandbox applies on this host (computed once).

    As root: network and IPC namespaces, a per-run uid with a process cap, the file-system jail
    (:mod:`.jail`; ``VERL_METAAGENT_SANDBOX_JAIL=0`` turns it off). Not root: network and IPC
    namespaces, the jail and (Linux >= 5.14) a process cap through an unprivileged user namespace
    where the kernel allows one (``user_namespace``; most distributions do, some containers and
    hardened hosts do not).
    """
    if not _NAMESPACES:
        if _IS_ROOT:
            _NAMESPACES.update(net=_namespace_works(_CLONE_NEWNET), ipc=_namespace_works(_CLONE_NEWIPC), user=False)
        else:
            user = _namespace_works(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWIPC)
            _NAMESPACES.update(net=user, ipc=user, user=user)
            _NAMESPACES["pid"] = user and _namespace_works(_CLONE_NEWUSER | _CLONE_NEWPID)
        # Linux >= 5.14 counts RLIMIT_NPROC per (user namespace, uid): a limit set inside a run's own
        # user namespace caps that run's processes only, not the trainer user's. On older kernels it
        # counts every process of the real uid, so such a limit would stop the run from forking at all.
        _NAMESPACES["nproc"] = _IS_ROOT or (_NAMESPACES["user"] and kernel_at_least(5, 14))
        _NAMESPACES["jail"] = jail_works(user_namespace=_NAMESPACES["user"])
    return {
        "rlimits": True,
        "scrubbed_env": True,
        "network_namespace": _NAMESPACES["net"],
        "ipc_namespace": _NAMESPACES["ipc"],
        "user_namespace": _NAMESPACES["user"],
        "pid_namespace": _NAMESPACES.get("pid", False),
        "file_system_jail": _NAMESPACES["jail"],
        "unprivileged_uid": _IS_ROOT,
        "process_cap": _NAMESPACES["nproc"],
    }


def _jail_for(work: str, shm_mb: int, prot: dict) -> Optional[dict]:
    """The jail (see :mod:`.jail`) this run's child enters, or None where the jail does not work.

    As root the zygote builds one jail for all its children, showing the runs dirs (the system
    temp dir's, and the RAM-backed one of design executions; each run's work dir is private to its
    uid). ``dirs`` holds their identities (device, inode): a runs dir deleted and made again (a temp
    cleaner) is a new spec, so the zygote is restarted with the new dir bound.

    Not root, all runs share the trainer's uid, so each child builds a jail of its own that shows
    its own work dir only and an empty private ``/dev/shm`` (a tmpfs of ``shm_mb`` MB that dies with
    the run): a run can neither see nor touch another run's files.
    """
    if not prot["file_system_jail"] or os.path.realpath(work) != work:
        return None
    if prot["user_namespace"]:
        base = _JAIL_SPECS.get("per_run")
        if base is None:
            base = _JAIL_SPECS["per_run"] = dict(jail_spec([]), source=BUILD_JAIL)
        return dict(base, paths=base["paths"] + [work], private_shm_mb=max(1, int(shm_mb)))
    dirs = sorted(d for d in {runs_dir(None), runs_dir(memory_work_root())} if d)
    if os.path.dirname(work) not in dirs:
        return None
    identity = tuple((d, st.st_dev, st.st_ino) for d, st in ((d, os.stat(d)) for d in dirs))
    spec = _JAIL_SPECS.get(identity)
    if spec is None:
        _JAIL_SPECS.clear()
        spec = _JAIL_SPECS[identity] = dict(jail_spec(dirs), source=BUILD_JAIL, dirs=[list(i) for i in identity])
    return spec


_JAIL_SPECS: dict = {}


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

#: Child drop sequence: leave the network, take a private System V IPC / POSIX message queue
#: namespace (destroyed with the run's last process: no shared memory segment or queue outlives the
#: run or is seen by another run), chdir to the work dir, drop to the run's uid, cap processes.
#: Enter the file-system jail (``jail``; root's zygote children are already in it) after the
#: namespaces and before the chdir. Not root (``userns``): the namespaces come with a new user
#: namespace (our ids mapped to themselves when a jail is built in it), whose capabilities are
#: then dropped (``capset`` to nothing, ``no_new_privs``) before any untrusted code runs; its
#: ``RLIMIT_NPROC`` then caps the run's processes (counted per user namespace on Linux >= 5.14).
DROP_PRIVILEGES = r"""
_libc = ctypes.CDLL(None, use_errno=True)
if _a.get("jail"):
    exec(_a["jail"]["source"])
if _a.get("userns"):
    _ids = (os.getuid(), os.getgid())
    if _libc.unshare(0x10000000 | (0x40000000 if _a["netns"] else 0) | 0x08000000 | (0x20000000 if _a.get("pidns") else 0)) != 0:
        os._exit(97)
    if _a.get("jail"):
        _map_own_ids(*_ids)
    del _ids
elif _a["netns"] or _a.get("ipcns"):
    if _libc.unshare((0x40000000 if _a["netns"] else 0) | (0x08000000 if _a.get("ipcns") else 0)) != 0:
        os._exit(97)
if _a.get("jail"):
    if not _build_jail(_a["jail"]):
        os._exit(97)
    os.chroot(_a["jail"]["root"])
    del _build_jail, _map_own_ids
if _a.get("pidns"):
    # A pid namespace of the run's own: the next child is its pid 1, a minimal init that runs the
    # program as its own child (normal signal semantics: pid 1 would ignore SIGXCPU and the like),
    # reaps every orphan at once and reports the program's wait status through a pipe. This
    # process waits and then ends exactly as the program did. When pid 1 ends, the kernel kills
    # whatever is left in the namespace: nothing of the run outlives it.
    _r, _w = os.pipe()
    _pid1 = os.fork()
    if _pid1:
        if _a.get("pdeathsig"):
            _libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the zygote
        os.closerange(0, _r)
        os.closerange(_r + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])  # hold none of the run's pipes
        _st = os.waitpid(_pid1, 0)[1]
        _got = os.read(_r, 32)
        _st = int(_got) if _got else _st
        if os.WIFSIGNALED(_st):
            import signal as _signal

            if os.WTERMSIG(_st) not in (_signal.SIGKILL, _signal.SIGSTOP):
                _signal.signal(os.WTERMSIG(_st), _signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(_st))
        os._exit(os.WEXITSTATUS(_st) if os.WIFEXITED(_st) else 1)
    _libc.prctl(1, 9, 0, 0, 0)  # die with the waiting process
    os.close(_r)
    if _a.get("jail"):  # a /proc of this namespace only; where that is refused, the bound one stays
        _libc.mount(b"proc", b"/proc", b"proc", 2 | 4 | 8, None)
    _prog = os.fork()
    if _prog:
        os.closerange(0, _w)
        os.closerange(_w + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        while True:
            try:
                _p, _st = os.wait()
            except ChildProcessError:
                os._exit(1)
            if _p == _prog:
                os.write(_w, str(_st).encode())
                os._exit(0)
    os.close(_w)
    _libc.prctl(1, 9, 0, 0, 0)  # die with pid 1
    del _r, _w, _pid1, _prog
if _a.get("userns"):
    _libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
    _capset = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine)
    if _capset is not None and _libc.syscall(_capset, (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()) != 0:
        os._exit(97)
    if _a.get("userns_nproc"):  # counted in this user namespace only: a cap on this run's processes
        _n = _a["nproc"] + (2 if _a.get("pidns") else 0)  # the waiting process and pid 1 count too
        resource.setrlimit(resource.RLIMIT_NPROC, (_n, _n))
        del _n
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
    _libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG (a uid or user namespace change cleared it): die with the zygote
del _libc
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



class _SpawnedChild:
    """A child started as a fresh interpreter (``mode="spawn"``), seen like a :class:`ZygoteChild`.

    Its exit is learnt through a pidfd watched by the event loop (polled every 10 ms where the
    kernel has no pidfds); it is reaped here, not by ``subprocess``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, popen: subprocess.Popen):
        self.loop = loop
        self.popen = popen
        self.pid = popen.pid
        self.returncode: Optional[int] = None
        self.zygote_died = False
        self.exited: asyncio.Future = loop.create_future()
        self.pidfd: Optional[int] = None
        self._poll: Optional[asyncio.TimerHandle] = None
        try:
            self.pidfd = os.pidfd_open(self.pid)
            loop.add_reader(self.pidfd, self._check)
        except (AttributeError, OSError):
            self._poll = loop.call_later(0.01, self._check)
        self._check()

    def _check(self) -> None:
        if self.returncode is not None:
            return
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == 0:
            if self.pidfd is None:
                self._poll = self.loop.call_later(0.01, self._check)
            return
        self.returncode = self.popen.returncode = os.waitstatus_to_exitcode(status)
        self._stop_watching()
        self.exited.set_result(self.returncode)

    def _stop_watching(self) -> None:
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None

    def kill(self) -> None:
        """SIGKILL the child and its process group (the child leads its own session), also after
        the child itself exited: what it forked may still run (and, not root, no uid sweep follows).
        The group id stays reserved while any member lives, so this never hits a stranger's group."""
        if self.returncode is None and self.pidfd is not None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def close(self) -> None:
        self._stop_watching()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class SandboxAbort(Exception):
    """Raised by a ``serve`` coroutine to stop the child: ``status`` and ``reason`` end the run."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


#: ``serve(reader, write)``: ``await reader.readline()`` gives the child's lines, ``write(dict)`` replies.
Serve = Callable[[LineReader, Callable[[dict], None]], Awaitable[None]]


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
    run = _Run(limits, uid)
    try:
        if uid is not None and not uid_was_left_clean(uid_fd):
            await sweeper().clean(uid)  # leftovers of a parent that crashed mid-run
        _write_files(work, files or {}, uid)
        args = dict(boot_args)
        args.update(
            netns=bool(prot["network_namespace"] and not limits.allow_network),
            ipcns=bool(prot["ipc_namespace"]),
            userns=bool(prot["user_namespace"]),
            jail=_jail_for(work, limits.memory_mb, prot),
            cwd=work,
            uid=uid,
            nproc=int(limits.max_processes),
            userns_nproc=bool(prot["user_namespace"] and prot["process_cap"]),
            pidns=bool(prot["user_namespace"] and prot["pid_namespace"]),
        )
        env = {**BASE_ENV, "HOME": work, "TMPDIR": work, **(extra_env or {})}
        rlimits = {"mem": int(limits.memory_mb) << 20, "cpu": max(1, int(limits.cpu_seconds + 0.999)), "fsize": 1 << 30}
        run.open_pipes(stdin=bool(stdin), channel=serve is not None)
        if mode == "zygote":
            # As root the zygote builds the jail once and chroots its children into it; not root,
            # each child builds it inside its own user namespace (the drop sequence).
            zygote_jail = args["jail"] if not args["userns"] else None
            zygote = await get_zygote(preload, zygote_jail)
            if zygote is not None and zygote_jail and not zygote.jail_active:
                zygote = None  # it could not build the jail: this run goes to a fresh interpreter
            if zygote is not None:
                # The zygote puts the child in the network namespace (a reused empty one per uid,
                # else a fresh one) before the boot runs; the boot's drop sequence skips it.
                netns_key = (uid if uid is not None else -1) if args["netns"] and not args["userns"] else None
                zargs = dict(args, pdeathsig=True, netns=bool(args["netns"] and args["userns"]))
                zargs["jail"] = None if zygote_jail else args["jail"]
                if serve is not None:
                    zargs["channel"] = [3, 4]  # the zygote child gets them as fds 3, 4
                try:
                    run.child = await zygote.spawn(
                        boot, json.dumps(zargs), env, work, rlimits, run.child_fds, netns=netns_key, jail=bool(zygote_jail)
                    )
                except ZygoteUnavailable:
                    run.child = None
            if run.child is None:
                mode = "spawn"
                if uid is not None:  # a child forked before the zygote failed dies here
                    await sweeper().clean(uid, files=False)
        if run.child is None:
            if serve is not None:
                args["channel"] = run.child_fds[3:]
            popen = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", boot, json.dumps(args)],  # no site-packages in the child
                stdin=run.child_fds[0], stdout=run.child_fds[1], stderr=run.child_fds[2], pass_fds=tuple(run.child_fds[3:]),
                env=env, cwd=work, preexec_fn=lambda: _preexec(rlimits["mem"], rlimits["cpu"], rlimits["fsize"]),
            )
            run.child = _SpawnedChild(asyncio.get_running_loop(), popen)
        status, detail = await run.watch(stdin, serve)
        rc = run.child.returncode
        status, reason = describe_end(status, rc, limits)
        if run.child.zygote_died:
            detail.setdefault("reason", "the sandbox zygote died during the run")
        if reason:
            detail.setdefault("reason", reason)
        detail["protections"] = prot
        detail["mode"] = mode
        detail["jail"] = bool(args["jail"])
        return SandboxResult(status, rc, run.stdout(), run.stderr(), time.monotonic() - run.started, detail)
    finally:
        run.close()
        if uid is not None:
            clean = await sweeper().clean(uid, processes=not run.uid_empty) or run.uid_empty
            release_uid(uid_fd, clean, uid)
        shutil.rmtree(work, ignore_errors=True)


def _write_files(work: str, files: dict, uid: Optional[int]) -> None:
    """Write the run's input ``files`` into its work dir, owned by the run's ``uid``."""
    for name, content in files.items():
        path = os.path.join(work, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w" if isinstance(content, str) else "wb") as f:
            f.write(content)
    if uid is not None:
        for root, dirs, fnames in os.walk(work):
            for n in dirs + fnames:
                os.chown(os.path.join(root, n), uid, uid)
        os.chown(work, uid, uid)


class _Run:
    """One run's child, pipes and termination logic on the event loop (see :func:`run_in_sandbox`).

    :meth:`watch` resolves when the run is over: the child exited and every pipe reached end of
    file (``ok``; the return code decides further), or the wall clock ran out (``timeout``), or
    the output cap was exceeded (``output_limit``), or ``serve`` aborted the run
    (:class:`SandboxAbort`). When the child exits, its process group is killed at once, and --
    if its pipes are still held open :data:`_PIPE_GRACE_SECONDS` later -- every process of its uid.
    """

    def __init__(self, limits: SandboxLimits, uid: Optional[int]):
        self.limits = limits
        self.uid = uid
        self.uid_empty = False  # known: no process of the run's uid is alive
        self.started = time.monotonic()
        self.child = None  # ZygoteChild | _SpawnedChild
        self.child_fds: list = []  # stdin, stdout, stderr[, channel read, channel write] of the child
        self._parent_fds: dict = {}
        self._io: list = []
        self._out = self._err = None
        self._serve_task: Optional[asyncio.Task] = None
        self._finished: Optional[asyncio.Future] = None
        self._sweep_task: Optional[asyncio.Task] = None

    def open_pipes(self, stdin: bool, channel: bool) -> None:
        if stdin:
            stdin_r, self._parent_fds["stdin"] = os.pipe()
        else:
            stdin_r = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        self.child_fds.append(stdin_r)
        for name in ("stdout", "stderr"):
            self._parent_fds[name], w = os.pipe()
            self.child_fds.append(w)
        if channel:
            to_child_r, self._parent_fds["to_child"] = os.pipe()
            self._parent_fds["from_child"], from_child_w = os.pipe()
            self.child_fds += [to_child_r, from_child_w]

    async def watch(self, stdin: str, serve: Optional[Serve]) -> "tuple[str, dict]":
        loop = asyncio.get_running_loop()
        for fd in self.child_fds:  # the child has its copies now
            os.close(fd)
        self.child_fds = []
        self._finished = loop.create_future()
        cap = self.limits.max_output_bytes
        fds = self._parent_fds
        self._out = OutputCollector(loop, fds.pop("stdout"), cap, self._output_done)
        self._err = OutputCollector(loop, fds.pop("stderr"), cap, self._output_done)
        self._io += [self._out, self._err]
        if "stdin" in fds:
            self._io.append(InputFeeder(loop, fds.pop("stdin"), stdin.encode()))
        if serve is not None:
            channel = Channel(loop, fds.pop("from_child"), fds.pop("to_child"), _CHANNEL_LINE_LIMIT)
            self._io.append(channel)
            self._serve_task = loop.create_task(serve(channel.reader, channel.write))
            self._serve_task.add_done_callback(self._serve_done)
        self.child.exited.add_done_callback(self._exited)
        deadline = loop.call_later(self.limits.wall_seconds, self._finish, ("timeout", {}))
        try:
            outcome = await self._finished
        finally:
            deadline.cancel()
        if isinstance(outcome, BaseException):
            raise outcome  # serve failed with something other than SandboxAbort: the caller's bug
        if self.child.returncode is None:
            self.uid_empty = False
            self.child.kill()
            try:
                await asyncio.wait_for(asyncio.shield(self.child.exited), timeout=10)
            except asyncio.TimeoutError:
                pass
        return outcome

    def _finish(self, outcome) -> None:
        if not self._finished.done():
            self._finished.set_result(outcome)

    def _pipes_done(self) -> bool:
        return self._out.done and self._err.done and (self._serve_task is None or self._serve_task.done())

    def _check_done(self) -> None:
        if self.child.returncode is not None and self._pipes_done():
            self._finish(("ok", {}))

    def _output_done(self, collector: OutputCollector) -> None:
        if collector.over:
            self._finish(("output_limit", {}))
        else:
            self._check_done()

    def _serve_done(self, task: asyncio.Task) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, SandboxAbort):
            self._finish((exc.status, {"reason": exc.reason}))
        elif exc is not None:
            self._finish(exc)
        else:
            self._check_done()

    def _exited(self, _future) -> None:
        # Processes the child left behind (possibly in new sessions) may still hold its pipes:
        # kill its group now, and every process of the run's uid if the pipes stay open.
        self.child.kill()
        if self.uid is not None and not self._pipes_done():
            self.child.loop.call_later(_PIPE_GRACE_SECONDS, self._sweep_if_pipes_open)
        self._check_done()

    def _sweep_if_pipes_open(self) -> None:
        if not self._pipes_done() and not self._finished.done():
            self._sweep_task = asyncio.ensure_future(self._sweep())

    async def _sweep(self) -> None:
        self.uid_empty = await sweeper().clean(self.uid, files=False)

    def stdout(self) -> str:
        return self._out.text() if self._out is not None else ""

    def stderr(self) -> str:
        return self._err.text() if self._err is not None else ""

    def close(self) -> None:
        """Kill a child still running, close every pipe, stop every watcher (idempotent)."""
        if self.child is not None:
            if self.child.returncode is None:
                self.uid_empty = False
                self.child.kill()
            self.child.close()
        for io in self._io:
            io.close()
        for task in (self._serve_task, self._sweep_task):
            if task is not None and not task.done():
                task.cancel()
        for fd in self.child_fds + list(self._parent_fds.values()):
            try:
                os.close(fd)
            except OSError:
                pass
        self.child_fds, self._parent_fds = [], {}


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
