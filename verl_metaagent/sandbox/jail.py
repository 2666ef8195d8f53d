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
other's files. ``VERL_METAAGENT_SANDBOX_JAIL=0`` turns the jail off.

The code that builds the jail is :data:`BUILD_JAIL`, Python source run by the zygote and by the
``spawn`` boot (both before any untrusted code, as root), so it uses only ``os`` and ``ctypes``.
"""

from __future__ import annotations

import os
import sys
import tempfile

from verl_metaagent.sandbox.probe import check_in_child, kernel_at_least

#: Environment variable: ``0`` disables the jail (default on where it works).
JAIL_ENV = "VERL_METAAGENT_SANDBOX_JAIL"

#: Environment variable: more host directories to show in the jail, ``:``-separated absolute paths
#: (e.g. ``/nix`` where the interpreter's libraries live outside its prefix). Read-only for the run
#: only as far as its uid's permissions go: never list data, checkpoints or homes here.
JAIL_PATHS_ENV = "VERL_METAAGENT_SANDBOX_JAIL_PATHS"

#: Host paths bound into the jail when they exist (directories or symlinks to them).
SYSTEM_PATHS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/dev", "/proc")


def extra_jail_paths() -> "list[str]":
    """The directories of :data:`JAIL_PATHS_ENV`, checked.

    Raises:
        ValueError: an entry is not an absolute path to an existing directory, or is ``/`` (which
            would show the whole host and defeat the jail); the message names the variable.
    """
    paths = []
    for raw in filter(None, os.environ.get(JAIL_PATHS_ENV, "").split(":")):
        path = os.path.realpath(raw)
        if not os.path.isabs(raw) or not os.path.isdir(path):
            raise ValueError(f"{JAIL_PATHS_ENV}: {raw!r} is not an absolute path to an existing directory")
        if path == "/":
            raise ValueError(f"{JAIL_PATHS_ENV}: '/' would show the whole host; list the directories the runs need")
        paths.append(path)
    return paths


def jail_paths(runs_dirs: "list[str]") -> "list[str]":
    """Host paths the jail shows: the system, this Python installation, :data:`JAIL_PATHS_ENV`'s
    directories, the runs dirs."""
    python = {os.path.realpath(p) for p in (sys.base_prefix, sys.base_exec_prefix, os.path.dirname(os.path.realpath(sys.executable)))}
    paths = [p for p in SYSTEM_PATHS if os.path.lexists(p)]
    for p in sorted(python) + extra_jail_paths() + [os.path.realpath(d) for d in runs_dirs]:
        if p and os.path.isdir(p) and not any(p == q or p.startswith(q.rstrip("/") + "/") for q in paths):
            paths.append(p)
    return paths


#: Python source defining ``_build_jail(spec) -> bool``: in the calling process (single threaded,
#: root or in a fresh user namespace), enter a new private mount namespace and mount at
#: ``spec["root"]`` a read-only tmpfs that shows only ``spec["paths"]`` (bind mounts at the same
#: paths; with ``spec["own_proc"]`` a new ``/proc`` instance that shows only the caller's own uid's
#: processes instead of the host's; with ``spec["private_shm_mb"]`` an empty ``/dev/shm`` tmpfs of
#: that size). The caller then ``chroot``s its runs into ``root``. Also
#: ``_map_own_ids(uid, gid)`` for a fresh user namespace.
BUILD_JAIL = r'''
def _build_jail(spec):
    import ctypes, os
    paths, root = spec["paths"], spec["root"]
    libc = ctypes.CDLL(None, use_errno=True)
    MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
    def mount(src, dst, fstype, flags, data=None):
        enc = lambda s: None if s is None else s.encode()
        return libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)) == 0
    if libc.unshare(0x00020000) != 0 or not mount("none", "/", None, MS_REC | MS_PRIVATE):
        return False
    if not mount("verl_metaagent_jail", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"):
        return False
    for path in paths:
        if path == "/proc" and spec.get("own_proc"):
            os.makedirs(root + path, exist_ok=True)
            if mount("proc", root + path, "proc", MS_NOSUID | MS_NODEV | 8, "hidepid=2"):  # 8: MS_NOEXEC
                continue
        if os.path.islink(path):  # e.g. /bin -> usr/bin on merged-/usr systems
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
            continue
        os.makedirs(root + path, exist_ok=True)
        if not mount(path, root + path, None, MS_BIND | MS_REC):
            return False
        if path == "/dev" and spec.get("private_shm_mb"):  # an empty /dev/shm of the run's own
            opts = "mode=1777,size=%dm" % spec["private_shm_mb"]
            if not mount("verl_metaagent_shm", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts):
                return False
    for link, target in spec.get("links", {}).items():  # e.g. a venv's bin/python -> the real one
        if not os.path.lexists(root + link):
            os.makedirs(os.path.dirname(root + link), exist_ok=True)
            os.symlink(target, root + link)
    for tmp in ("/tmp", "/var/tmp"):
        os.makedirs(root + tmp, exist_ok=True)  # present, empty and (below) read-only
    return mount("none", root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _map_own_ids(uid, gid):
    # In a new user namespace (not root): map our own uid/gid to themselves, so that files made
    # while building the jail have an owner there and getuid() is unchanged.
    # A non-dumpable process (a zygote child) has root-owned /proc/self files: dumpable just for this.
    import ctypes
    prctl = ctypes.CDLL(None).prctl
    dumpable = prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
    prctl(4, 1, 0, 0, 0)
    try:
        for name, line in (("uid_map", "%d %d 1" % (uid, uid)), ("setgroups", "deny"), ("gid_map", "%d %d 1" % (gid, gid))):
            with open("/proc/self/" + name, "w") as f:
                f.write(line)
    finally:
        prctl(4, dumpable, 0, 0, 0)
'''


def jail_root() -> str:
    """Mount point of the jail's root (a private, empty dir on the host; mounted on only inside the
    mount namespace of the process that builds the jail)."""
    from verl_metaagent.sandbox.hostdirs import per_user, private_dir

    return private_dir(os.path.join(tempfile.gettempdir(), per_user("verl_metaagent_sandbox_jail")), 0o700)


def own_proc_possible() -> bool:
    """Whether the jail can mount its own ``/proc`` with ``hidepid=2``: as root (an unprivileged
    user namespace may not mount the host pid namespace's proc) on Linux >= 5.8, where proc mount
    options belong to the mount; on older kernels they are shared by every proc mount of the pid
    namespace, so the host's own ``/proc`` would change too."""
    return os.geteuid() == 0 and kernel_at_least(5, 8)


def interpreter_links() -> "dict[str, str]":
    """``sys.executable`` -> the interpreter it resolves to, when it is a link (a virtualenv's
    ``bin/python``): the jail recreates just that link, so ``sys.executable`` (and programs that run
    ``[sys.executable, ...]``) work inside while the rest of the venv and its project stay hidden."""
    real = os.path.realpath(sys.executable)
    return {sys.executable: real} if sys.executable and real != sys.executable and os.path.isfile(real) else {}


def jail_spec(runs_dirs: "list[str]") -> dict:
    """What a builder needs: ``{"paths", "root", "own_proc", "links"}``."""
    return {"paths": jail_paths(runs_dirs), "root": jail_root(), "own_proc": own_proc_possible(), "links": interpreter_links()}


def jail_works(user_namespace: bool = False) -> bool:
    """Whether this process may build and enter the jail: as root, or (``user_namespace``) as an
    ordinary user inside a new unprivileged user namespace; never when ``VERL_METAAGENT_SANDBOX_JAIL=0``."""
    if os.environ.get(JAIL_ENV, "").strip() == "0" or (os.geteuid() != 0 and not user_namespace):
        return False
    try:
        spec = jail_spec([])
    except OSError:
        return False
    uid, gid = os.getuid(), os.getgid()

    def enter() -> bool:
        import ctypes

        scope: dict = {}
        exec(BUILD_JAIL, scope)
        if user_namespace:
            if ctypes.CDLL(None, use_errno=True).unshare(0x10000000) != 0:
                return False
            scope["_map_own_ids"](uid, gid)
        if not scope["_build_jail"](spec):
            return False
        os.chroot(spec["root"])
        os.chdir("/")
        return os.path.isdir("/usr") and not os.path.exists(os.path.dirname(__file__))

    return check_in_child(enter)
