"""A file-system view for sandboxed runs: the system and the interpreter, and nothing of the job.

As root, a sandboxed run already cannot write outside its work dir (it runs as its own uid), but
it can *read* everything world-readable: the training data with the hidden tests and reference
answers, checkpoints, other users' files. A program being graded could look its own expected
outputs up on disk. The jail is a mount namespace whose root is a fresh tmpfs holding bind mounts
of only:

* the operating system's read-only trees (``/usr``, ``/etc`` and the ``/bin``, ``/lib*`` links or
  dirs), ``/dev`` and ``/proc`` (as root on Linux >= 5.8 a proc of its own mounted ``hidepid=2``:
  a run's uid sees only its own processes, not the trainer's command lines);
* the Python installation the child runs (``sys.base_prefix``, the interpreter's directory);
* the sandbox's own runs dirs (where work dirs are made), at their usual paths.

``/tmp`` and ``/var/tmp`` are empty and not writable (``TMPDIR`` is the run's work dir); ``/home``,
``/root`` (but for a Python installed there), ``/work``, ``/data``, ``/mnt``, ``/opt`` (likewise)
and every other tree are simply absent.

The zygote builds the jail once, in its own private mount namespace, when it starts; each child
``chroot``s into it before anything of the run happens (two system calls). A ``spawn`` child
builds its own (about a dozen mounts). The chroot is safe because the run then drops to an
unprivileged uid (no ``CAP_SYS_CHROOT``) and holds no directory fd from outside the jail.

Not root, every child builds the jail itself inside the unprivileged user namespace that also
gives it its network and IPC namespaces (its own uid/gid mapped to themselves), chroots, and only
then drops that namespace's capabilities: the trainer user's home, data and checkpoints are gone
from its view. As all runs then share the trainer's uid, such a jail shows the run's own work
dir instead of the runs dirs, and an empty ``/dev/shm`` of its own: runs cannot see or touch each
other's files. ``VERL_METAAGENT_SANDBOX_JAIL=0`` turns the jail off (:mod:`.settings`).

The code that builds the jail is ``_child.build_jail``, run by the zygote and by each ``spawn``
child (both before any untrusted code, as root or in the run's fresh user namespace). This module
says what the jail shows (:func:`jail_spec`) and which jail a run gets (:func:`jail_for_run`);
:func:`metaagent_sandbox.probe.jail_works` whether it can be built here.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Optional

from metaagent_sandbox.hostdirs import memory_work_root, per_user, private_dir, runs_dir
from metaagent_sandbox.settings import JAIL_PATHS_ENV, check_jail_path, settings_from_environ

#: Host paths bound into the jail when they exist (directories or symlinks to them).
SYSTEM_PATHS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/dev", "/proc")


def extra_jail_paths() -> "list[str]":
    """The directories of :data:`~metaagent_sandbox.settings.JAIL_PATHS_ENV`, checked.

    Raises:
        ValueError: an entry is not an absolute path to an existing directory, or is ``/`` (which
            would show the whole host and defeat the jail); the message names the variable.
    """
    paths = []
    for raw in settings_from_environ(os.environ).jail_paths:
        path = os.path.realpath(raw)
        if not os.path.isdir(path):
            raise ValueError(f"{JAIL_PATHS_ENV}: {raw!r} is not an absolute path to an existing directory")
        paths.append(check_jail_path(path, JAIL_PATHS_ENV))
    return paths


def jail_paths(runs_dirs: "list[str]") -> "list[str]":
    """Host paths the jail shows: the system, this Python installation, :data:`JAIL_PATHS_ENV`'s
    directories, the runs dirs."""
    prefixes = (sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable)))
    python = {os.path.realpath(p) for p in prefixes}
    paths = [p for p in SYSTEM_PATHS if os.path.lexists(p)]
    for p in sorted(python) + extra_jail_paths() + [os.path.realpath(d) for d in runs_dirs]:
        if p and os.path.isdir(p) and not any(p == q or p.startswith(q.rstrip("/") + "/") for q in paths):
            paths.append(p)
    return paths


def jail_root() -> str:
    """Mount point of the jail's root (a private, empty dir on the host; mounted on only inside the
    mount namespace of the process that builds the jail)."""
    return private_dir(os.path.join(tempfile.gettempdir(), per_user("verl_metaagent_sandbox_jail")), 0o700)


def interpreter_links() -> "dict[str, str]":
    """``sys.executable`` -> the interpreter it resolves to, when it is a link (a virtualenv's
    ``bin/python``): the jail recreates just that link, so ``sys.executable`` (and programs that run
    ``[sys.executable, ...]``) work inside while the rest of the venv and its project stay hidden."""
    real = os.path.realpath(sys.executable)
    return {sys.executable: real} if sys.executable and real != sys.executable and os.path.isfile(real) else {}


def jail_spec(runs_dirs: "list[str]", own_proc: bool) -> dict:
    """What ``_child.build_jail`` needs: ``{"paths", "root", "own_proc", "links"}``; ``own_proc``:
    mount a ``/proc`` of the jail's own with ``hidepid=2`` (see ``probe.own_proc_possible``)."""
    return {"paths": jail_paths(runs_dirs), "root": jail_root(), "own_proc": own_proc, "links": interpreter_links()}


_SPECS: dict = {}


def jail_for_run(work: str, shm_mb: int, protections: dict, own_proc: bool) -> Optional[dict]:
    """The jail this run's child enters (a :func:`jail_spec`), or None where the jail does not work
    (``protections`` from :func:`~metaagent_sandbox.probe.active_protections`) or the work
    dir is not in a runs dir the jail shows. ``own_proc``: as in :func:`jail_spec`.

    As root the zygote builds one jail for all its children, showing the runs dirs (the system
    temp dir's, and the RAM-backed one of design executions; each run's work dir is private to its
    uid). ``dirs`` holds their identities (device, inode): a runs dir deleted and made again (a temp
    cleaner) is a new spec, so the zygote is restarted with the new dir bound.

    Not root, all runs share the trainer's uid, so each child builds a jail of its own that shows
    its own work dir only and an empty private ``/dev/shm`` (a tmpfs of ``shm_mb`` MB that dies with
    the run): a run can neither see nor touch another run's files.
    """
    if not protections["file_system_jail"] or os.path.realpath(work) != work:
        return None
    if protections["user_namespace"]:
        base = _SPECS.get("per_run")
        if base is None:
            base = _SPECS["per_run"] = jail_spec([], own_proc)
        return dict(base, paths=base["paths"] + [work], private_shm_mb=max(1, int(shm_mb)))
    dirs = sorted(d for d in {runs_dir(None), runs_dir(memory_work_root())} if d)
    if os.path.dirname(work) not in dirs:
        return None
    identity = tuple((d, st.st_dev, st.st_ino) for d, st in ((d, os.stat(d)) for d in dirs))
    spec = _SPECS.get(identity)
    if spec is None:
        _SPECS.clear()
        spec = _SPECS[identity] = dict(jail_spec(dirs, own_proc), dirs=[list(i) for i in identity])
    return spec


def forget_jail_specs() -> None:
    """Forget the cached specs: the next run computes its jail anew (e.g. after the settings changed)."""
    _SPECS.clear()
