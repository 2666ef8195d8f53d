"""The sandbox's entry points: run a program in an isolated child process.

A caller gives the program (Python source), its inputs and the limits; the sandbox composes the
rest itself, in one order that no entry point lets a caller change (``_child.run``):

* a new session, rlimits (address space, CPU seconds, file size, no core files, open files), the
  scrubbed environment (PATH, LANG, HOME = TMPDIR = the throw-away work dir: no secrets of the
  parent), the preload imports (module names only: :mod:`.preload`);
* a private network namespace (no network at all) and a private System V IPC / POSIX message
  queue namespace, the file-system jail (:mod:`.jail`), not root a user and a pid namespace;
* no new privileges; as root a drop to a per-run unprivileged uid (distinct for concurrent runs,
  across processes, by ``flock``: :mod:`.uids`), so ``RLIMIT_NPROC`` caps processes and nothing
  outside the work dir is writable; not root, the user namespace's capabilities are dropped;
* only then the program, as ``__main__``, with the caller's ``argv`` and ``extra_env``.

Every child starts either forked from a warm fork-server (``mode="zygote"``, :mod:`.zygote`) or as
a fresh ``python -I -S`` interpreter (``mode="spawn"``, :mod:`.spawn`; also the automatic
fallback). Output is capped (:mod:`.supervisor`); afterwards the work dir is deleted and every
process of the run's uid is killed and waited for (:mod:`.cleanup`): the run returns when none is
left, or its uid stays quarantined until none is. Where a layer is not available (not root,
namespaces forbidden in a container), the run goes on with the others;
:func:`~metaagent_sandbox.probe.active_protections` reports which are active.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import time
from typing import Any, Optional, Sequence

from metaagent_sandbox._child import CHANNEL_FDS
from metaagent_sandbox.cleanup import sweeper
from metaagent_sandbox.hostdirs import make_work_dir
from metaagent_sandbox.jail import jail_for_run
from metaagent_sandbox.limits import SandboxLimits, SandboxResult, describe_end
from metaagent_sandbox.preload import PRELOAD_MODULES, PROJECT_PACKAGES, check_preload
from metaagent_sandbox.probe import active_protections, own_proc_possible
from metaagent_sandbox.settings import MODES, settings_from_environ
from metaagent_sandbox.spawn import spawn_child
from metaagent_sandbox.supervisor import SandboxAbort, Serve, Supervisor
from metaagent_sandbox.uids import claim_uid, release_uid, uid_was_left_clean
from metaagent_sandbox.zygote import BASE_ENV, ZygoteChild, ZygoteUnavailable, get_zygote

__all__ = ["CHANNEL_FDS", "PROGRAM_FILE", "SandboxAbort", "default_mode", "run_in_sandbox", "run_python",
           "run_python_sync"]

#: The work-dir file that holds the program (the child reads it after the drop); not a caller's file name.
PROGRAM_FILE = ".sandbox_program.py"


def default_mode() -> str:
    """The mode used when a call passes ``mode=None``: ``$VERL_METAAGENT_SANDBOX_MODE`` or ``zygote``."""
    return settings_from_environ(os.environ).mode


def _zygote_supported() -> bool:
    return all(hasattr(m, n) for m, n in ((os, "pidfd_open"), (signal, "pidfd_send_signal"), (socket, "send_fds")))


def _checked_files(files: Optional[dict]) -> dict:
    """``files`` if every name stays inside the work dir and is not :data:`PROGRAM_FILE`."""
    for name, content in (files or {}).items():
        norm = os.path.normpath(name) if isinstance(name, str) else ""
        if not norm or os.path.isabs(norm) or norm == "." or norm.split(os.sep)[0] == ".." or norm == PROGRAM_FILE:
            raise ValueError(f"files: {name!r} must be a relative path inside the work dir (and not {PROGRAM_FILE!r})")
        if not isinstance(content, (str, bytes)):
            raise TypeError(f"files[{name!r}]: expected str or bytes, got {type(content).__name__}")
    return dict(files or {})


def _checked_strings(value: Any, what: str) -> None:
    if any(not isinstance(v, str) or "\0" in v for v in value):
        raise TypeError(f"{what}: expected strings without NUL characters")


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


async def _fork_from_zygote(spec: dict, env: dict, work: str, rlimits: dict, child_fds: list,
                            preload: tuple, uid: Optional[int]) -> Optional[ZygoteChild]:
    """The run's child forked from the zygote of ``preload``, or None where it cannot serve it.

    As root the zygote builds the jail once and chroots its children into it, and puts each child
    in its network namespace (a reused empty one per uid); not root, each child builds both in
    its own user namespace (``_child.enter_isolation``).
    """
    zygote_jail = spec["jail"] if not spec["userns"] else None
    zygote = await get_zygote(preload, zygote_jail)
    if zygote is None or (zygote_jail and not zygote.jail_active):
        return None  # it could not start, or not build the jail: this run goes to a fresh interpreter
    netns_key = (uid if uid is not None else -1) if spec["netns"] and not spec["userns"] else None
    zspec = dict(spec, pdeathsig=True, netns=bool(spec["netns"] and spec["userns"]))
    zspec["jail"] = None if zygote_jail else spec["jail"]
    try:
        return await zygote.spawn(
            json.dumps(zspec), env, work, rlimits, child_fds, netns=netns_key, jail=bool(zygote_jail)
        )
    except ZygoteUnavailable:
        return None


async def run_in_sandbox(
    program: str,
    *,
    argv: Sequence[str] = (),
    stdin: str = "",
    limits: SandboxLimits = SandboxLimits(),
    files: Optional[dict] = None,
    serve: Optional[Serve] = None,
    extra_env: Optional[dict] = None,
    mode: Optional[str] = None,
    preload: Sequence[str] = PRELOAD_MODULES,
    work_root: Optional[str] = None,
    program_name: str = "<sandbox>",
) -> SandboxResult:
    """Run Python ``program`` in an isolated child, after the sandbox's setup and privilege drop.

    The program runs as ``__main__`` (``sys.argv = ["main", *argv]``; tracebacks name it
    ``program_name``) in a throw-away work dir holding ``files`` (relative names), with ``stdin``,
    the scrubbed environment plus ``extra_env`` (set after the drop, so it acts on nothing that
    ran before), under ``limits``. Nothing of the caller runs before the drop: ``preload`` is a
    tuple of module names imported beforehand (standard library or this package, see
    :mod:`.preload`), everything else is data.

    With ``serve``, the program has a channel to the parent: it reads the parent's lines from fd
    ``CHANNEL_FDS[0]`` and writes its own to ``CHANNEL_FDS[1]``, while ``serve(reader, write)`` runs in
    the parent for the child's lifetime (``await reader.readline()``: the child's next line, ``b""``
    at EOF, ``ValueError`` beyond 4 MiB; ``write(dict)``: one JSON line to the child, never
    blocking); it may raise :class:`SandboxAbort` to end the run with its status.

    ``mode``: ``"zygote"`` forks the child from a warm fork-server that has imported ``preload``
    (one per distinct preload and process); ``"spawn"`` starts a fresh interpreter; ``None`` ->
    :func:`default_mode`. A zygote that cannot start or fork falls back to ``spawn``
    (``detail['mode']`` says which ran). ``work_root``: where the work dir is made (default: the
    system temp dir; see :func:`~metaagent_sandbox.hostdirs.memory_work_root`).

    Raises:
        TypeError, ValueError: a malformed argument (named in the message); nothing has run.
    """
    if not isinstance(program, str):
        raise TypeError(f"program must be Python source (str), got {type(program).__name__}")
    preload = check_preload(preload)
    files = _checked_files(files)
    argv, extra_env = list(argv), dict(extra_env or {})
    _checked_strings(argv, "argv")
    _checked_strings(list(extra_env) + list(extra_env.values()), "extra_env")
    if any("=" in k or not k for k in extra_env):
        raise ValueError("extra_env: variable names must be non-empty and contain no '='")
    mode = mode or default_mode()
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {MODES}")
    if mode == "zygote" and not _zygote_supported():
        mode = "spawn"
    prot = active_protections()
    work = make_work_dir(work_root)
    uid = uid_fd = None
    if prot["unprivileged_uid"]:
        try:
            uid, uid_fd, reason = await _claim_empty_uid()
        finally:
            if uid is None:
                shutil.rmtree(work, ignore_errors=True)
        if uid is None:
            return SandboxResult("error", None, "", "", 0.0, {"reason": reason})
    run = Supervisor(limits, uid)
    try:
        _write_files(work, {**files, PROGRAM_FILE: program}, uid)
        spec = {
            "netns": bool(prot["network_namespace"] and not limits.allow_network),
            "ipcns": bool(prot["ipc_namespace"]),
            "userns": bool(prot["user_namespace"]),
            "jail": jail_for_run(work, limits.memory_mb, prot, own_proc_possible()),
            "cwd": work,
            "uid": uid,
            "nproc": int(limits.max_processes),
            "userns_nproc": bool(prot["user_namespace"] and prot["process_cap"]),
            "pidns": bool(prot["user_namespace"] and prot["pid_namespace"]),
            "program": {"file": PROGRAM_FILE, "filename": str(program_name), "argv": argv, "env": extra_env},
        }
        env = {**BASE_ENV, "HOME": work, "TMPDIR": work}
        rlimits = {"mem": int(limits.memory_mb) << 20, "cpu": max(1, int(limits.cpu_seconds + 0.999)), "fsize": 1 << 30}
        run.open_pipes(stdin=bool(stdin), channel=serve is not None)
        if mode == "zygote":
            run.child = await _fork_from_zygote(spec, env, work, rlimits, run.child_fds, preload, uid)
            if run.child is None:
                mode = "spawn"
                if uid is not None:  # a child forked before the zygote failed dies here
                    await sweeper().clean(uid, files=False)
        if run.child is None:
            spawn_spec = dict(spec, rlimits=rlimits, channel_fds=run.child_fds[3:], preload=list(preload),
                              packages=PROJECT_PACKAGES)
            run.child = spawn_child(json.dumps(spawn_spec), env, work, run.child_fds)
        status, detail = await run.watch(stdin, serve)
        rc = run.child.returncode
        status, reason = describe_end(status, rc, limits)
        if run.child.zygote_died:
            detail.setdefault("reason", "the sandbox zygote died during the run")
        if reason:
            detail.setdefault("reason", reason)
        detail.update(protections=prot, mode=mode, jail=bool(spec["jail"]), uid=uid)
        return SandboxResult(status, rc, run.stdout(), run.stderr(), time.monotonic() - run.started, detail)
    finally:
        run.close()
        if uid is not None:
            await _release(uid, uid_fd, run)
        shutil.rmtree(work, ignore_errors=True)


#: How many uids a run tries when the ones it claims still hold processes (each is quarantined).
_CLAIM_ATTEMPTS = 8


async def _claim_empty_uid() -> "tuple[Optional[int], Optional[int], str]":
    """A sandbox uid no other run holds and no process has: ``(uid, lock_fd, "")``, else
    ``(None, None, reason)``. A uid its last holder did not release clean (a parent that crashed
    mid-run) is swept first, and quarantined if that does not empty it."""
    for _ in range(_CLAIM_ATTEMPTS):
        try:
            claim = claim_uid()
        except OSError as exc:
            return None, None, f"sandbox uid locks unusable: {exc}"
        if claim is None:
            return None, None, "no free sandbox uid"
        uid, fd = claim
        try:
            empty = uid_was_left_clean(fd) or await sweeper().clean(uid)
        except BaseException:
            release_uid(fd)  # marked in use: its next holder sweeps it first
            raise
        if empty:
            return uid, fd, ""
        sweeper().quarantine(uid, fd)
    return None, None, f"no empty sandbox uid in {_CLAIM_ATTEMPTS} tries (the others are quarantined)"


async def _release(uid: int, uid_fd: int, run: Supervisor) -> None:
    """After the run: kill every process of its ``uid`` and wait until none is left; then release
    the uid clean, or -- processes not gone in time (a zombie nobody reaps yet) -- quarantine it:
    no run gets the uid until the sweeper finds it empty."""
    gone = await sweeper().clean(uid, processes=not run.uid_empty) or run.uid_empty
    if gone:
        release_uid(uid_fd, True, uid)
    else:
        sweeper().quarantine(uid, uid_fd)


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
    return await run_in_sandbox(source, stdin=stdin, limits=limits, files=files, mode=mode)


def run_python_sync(source: str, **kwargs: Any) -> SandboxResult:
    """Blocking :func:`run_python` (runs its own event loop; do not call from inside one)."""
    return asyncio.run(run_python(source, **kwargs))
