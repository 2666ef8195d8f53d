"""The child side of every sandboxed run: isolation, the privilege drop, then the caller's program.

This file is run as text, in the child, never for its effects in the parent:

* a ``spawn`` child is ``python -I -S -c <this file> <spec JSON>`` (``__name__ == "__main__"``:
  :func:`main` sets the rlimits, moves the channel to :data:`CHANNEL_FDS`, imports the preload);
* the zygote (``_zygote_main.py``) loads it once at its start, imports the preload with
  :func:`import_modules`, builds the jail with :func:`build_jail`, and each forked child calls
  :func:`run` after the zygote applied the process-level protections.

:func:`run` is the one sequence: :func:`enter_isolation` (namespaces, jail, pid namespace,
capabilities, chdir, uid drop), then :func:`run_program`, which reads the caller's program from
the work dir and executes it as ``__main__``. Nothing of the caller runs before the drop: the
spec holds data only (module names to preload, which are resolved in the standard library and
the plugin's own package), and the program's environment is applied after the drop too.

Uses only ``os``, ``sys``, ``json``, ``resource``, ``signal``, ``fcntl``, ``ctypes``, ``types``: it runs
before anything else, as root when the parent is root. The parent imports this module only to
probe the jail in a forked child (:mod:`.probe`) and in tests.
"""

import builtins
import ctypes
import fcntl
import json
import os
import resource
import signal
import sys
import types

# Namespace flags of unshare(2) / setns(2).
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# prctl(2) options.
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38

# mount(2) flags.
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

#: capset(2) by machine (no libc wrapper) and the capability header version it is given.
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

#: Exit status of a child that could not apply a requested protection: it never runs the program.
EXIT_NO_ISOLATION = 97

#: Where a run with a channel finds it: fds 3 (read, from the parent) and 4 (write, to the parent).
CHANNEL_FDS = (3, 4)

#: Open-file limit of every run.
MAX_OPEN_FILES = 256

LIBC = ctypes.CDLL(None, use_errno=True)


def prctl(option, value):
    return LIBC.prctl(option, value, 0, 0, 0)


# --- before the isolation: trusted preparation -------------------------------------------------


def set_rlimits(rlimits):
    """Address space, CPU seconds, file size, no core files (``rlimits``: ``mem``, ``cpu``, ``fsize``)."""
    resource.setrlimit(resource.RLIMIT_AS, (rlimits["mem"], rlimits["mem"]))
    resource.setrlimit(resource.RLIMIT_CPU, (rlimits["cpu"], rlimits["cpu"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (rlimits["fsize"], rlimits["fsize"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def place_fds(fds):
    """Make ``fds`` this process's fds ``0 .. len(fds) - 1``, close every other fd, cap open files."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds]  # out of the way of the targets
    for target, fd in enumerate(high):
        os.dup2(fd, target)  # inheritable, like subprocess's pass_fds
    os.closerange(len(fds), 1 << 20)
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_OPEN_FILES, MAX_OPEN_FILES))


def import_modules(names, packages):
    """Import ``names`` (trusted, installed modules: the parent checked each is in the standard
    library or in one of ``packages``). ``packages`` maps a top-level package to its directory; it
    is entered through a bare module whose ``__path__`` is that directory, so its ``__init__`` (and
    whatever that imports) does not run and its parent directory never goes on ``sys.path``."""
    for name, path in packages.items():
        if name not in sys.modules and any(n == name or n.startswith(name + ".") for n in names):
            package = types.ModuleType(name)
            package.__path__ = [path]
            sys.modules[name] = package
    for name in names:
        __import__(name)


# --- the file-system jail (built here as root or in a fresh user namespace) --------------------


def _mount(src, dst, fstype, flags, data=None):
    def enc(s):
        return None if s is None else s.encode()

    return LIBC.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)) == 0


def build_jail(spec):
    """In the calling process (single threaded, root or in a fresh user namespace): enter a new
    private mount namespace and mount at ``spec["root"]`` a read-only tmpfs that shows only
    ``spec["paths"]`` (bind mounts at the same paths; with ``spec["own_proc"]`` a new ``/proc``
    instance that shows only the caller's own uid's processes; with ``spec["private_shm_mb"]`` an
    empty ``/dev/shm`` tmpfs of that size; ``spec["links"]`` recreated). True when it is built;
    the caller then ``chroot``s into ``root`` (see ``jail.py``)."""
    paths, root = spec["paths"], spec["root"]
    if LIBC.unshare(CLONE_NEWNS) != 0 or not _mount("none", "/", None, MS_REC | MS_PRIVATE):
        return False
    if not _mount("verl_metaagent_jail", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"):
        return False
    for path in paths:
        if path == "/proc" and spec.get("own_proc"):
            os.makedirs(root + path, exist_ok=True)
            if _mount("proc", root + path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2"):
                continue
        if os.path.islink(path):  # e.g. /bin -> usr/bin on merged-/usr systems
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            os.symlink(os.readlink(path), root + path)
            continue
        os.makedirs(root + path, exist_ok=True)
        if not _mount(path, root + path, None, MS_BIND | MS_REC):
            return False
        if path == "/dev" and spec.get("private_shm_mb"):  # an empty /dev/shm of the run's own
            opts = "mode=1777,size=%dm" % spec["private_shm_mb"]
            if not _mount("verl_metaagent_shm", root + "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts):
                return False
    for link, target in spec.get("links", {}).items():  # e.g. a venv's bin/python -> the real one
        if not os.path.lexists(root + link):
            os.makedirs(os.path.dirname(root + link), exist_ok=True)
            os.symlink(target, root + link)
    for tmp in ("/tmp", "/var/tmp"):
        os.makedirs(root + tmp, exist_ok=True)  # present, empty and (below) read-only
    return _mount("none", root, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def map_own_ids(uid, gid):
    """In a new user namespace (not root): map our own uid/gid to themselves, so that files made
    while building the jail have an owner there and ``getuid()`` is unchanged. A non-dumpable
    process (a zygote child) has root-owned ``/proc/self`` files: dumpable just for this."""
    dumpable = prctl(PR_GET_DUMPABLE, 0)
    prctl(PR_SET_DUMPABLE, 1)
    try:
        maps = (("uid_map", "%d %d 1" % (uid, uid)), ("setgroups", "deny"), ("gid_map", "%d %d 1" % (gid, gid)))
        for name, line in maps:
            with open("/proc/self/" + name, "w") as f:
                f.write(line)
    finally:
        prctl(PR_SET_DUMPABLE, dumpable)


# --- the isolation and the privilege drop ------------------------------------------------------


def _die_with_parent():
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _close_all_but(fd):
    os.closerange(0, fd)
    os.closerange(fd + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _become_pid_namespace_init(spec):
    """In a fresh pid namespace: the next child is its pid 1, a minimal init that runs the program
    as its own child (normal signal semantics: a pid 1 would ignore SIGXCPU and the like), reaps
    every orphan at once and reports the program's wait status through a pipe. This process
    waits and then ends exactly as the program did. When pid 1 ends, the kernel kills whatever is
    left in the namespace: nothing of the run outlives it. Returns only in the program's process."""
    r, w = os.pipe()
    pid1 = os.fork()
    if pid1:  # the waiting process, outside the namespace: holds none of the run's pipes
        if spec.get("pdeathsig"):
            _die_with_parent()  # with the zygote
        _close_all_but(r)
        status = os.waitpid(pid1, 0)[1]
        got = os.read(r, 32)
        status = int(got) if got else status
        if os.WIFSIGNALED(status):
            if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):
                signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)
    _die_with_parent()  # pid 1 dies with the waiting process
    os.close(r)
    if spec.get("jail"):  # a /proc of this namespace only; where that is refused, the bound one stays
        _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    program = os.fork()
    if program:
        _close_all_but(w)
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                os._exit(1)
            if pid == program:
                os.write(w, str(status).encode())
                os._exit(0)
    os.close(w)
    _die_with_parent()  # the program dies with pid 1


def _drop_capabilities():
    """Drop every capability of this (user namespace's) process; exit if that fails."""
    number = SYS_CAPSET.get(os.uname().machine)
    header = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
    if number is not None and LIBC.syscall(number, header, (ctypes.c_uint32 * 6)()) != 0:
        os._exit(EXIT_NO_ISOLATION)


def _drop_to_uid(uid, nproc):
    """Become ``uid`` (groups, gid, uid: the capabilities go with root), capped at ``nproc``
    processes. Keep the standard library importable when the interpreter lives in a directory the
    uid cannot traverse (e.g. /root/.pyenv, a conda env in a private home): its ``sys.path`` dirs
    are opened before the drop and imported through ``/proc/self/fd/<n>``, which reaches a
    directory without searching its ancestors. Read-only; nothing outside those directories' own
    (world-readable) subtrees opens."""
    libdirs = [p for p in sys.path if p and os.path.isdir(p)]
    libfds = [os.open(p, os.O_RDONLY | os.O_DIRECTORY) for p in libdirs]
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
    if not all(os.access(p, os.R_OK | os.X_OK) for p in libdirs):
        prctl(PR_SET_DUMPABLE, 1)  # /proc/self/fd is ours again after setuid
        sys.path[:0] = ["/proc/self/fd/%d" % fd for fd in libfds]
    else:
        for fd in libfds:
            os.close(fd)


def enter_isolation(spec):
    """Apply the run's isolation, in this order, or exit :data:`EXIT_NO_ISOLATION`:

    1. leave the network and take a private System V IPC / POSIX message queue namespace
       (destroyed with the run's last process); not root (``userns``), these come with a new user
       namespace (our ids mapped to themselves when a jail is built in it);
    2. enter the file-system jail (``jail``; root's zygote children are already in it);
    3. not root: a pid namespace of the run's own (``pidns``);
    4. no new privileges (no setuid binary gains anything); not root, drop the user namespace's
       capabilities, and cap its processes (``userns_nproc``: counted per user namespace on
       Linux >= 5.14);
    5. chdir to the work dir; as root drop to the run's uid with its process cap;
    6. re-arm the parent-death signal (a uid or user namespace change cleared it).
    """
    jail = spec.get("jail")
    if spec.get("userns"):
        ids = (os.getuid(), os.getgid())
        flags = CLONE_NEWUSER | CLONE_NEWIPC | (CLONE_NEWNET if spec["netns"] else 0)
        if LIBC.unshare(flags | (CLONE_NEWPID if spec.get("pidns") else 0)) != 0:
            os._exit(EXIT_NO_ISOLATION)
        if jail:
            map_own_ids(*ids)
    elif spec["netns"] or spec.get("ipcns"):
        flags = (CLONE_NEWNET if spec["netns"] else 0) | (CLONE_NEWIPC if spec.get("ipcns") else 0)
        if LIBC.unshare(flags) != 0:
            os._exit(EXIT_NO_ISOLATION)
    if jail:
        if not build_jail(jail):
            os._exit(EXIT_NO_ISOLATION)
        os.chroot(jail["root"])
    if spec.get("pidns"):
        _become_pid_namespace_init(spec)
    if prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
        os._exit(EXIT_NO_ISOLATION)
    if spec.get("userns"):
        _drop_capabilities()
        if spec.get("userns_nproc"):
            n = spec["nproc"] + (2 if spec.get("pidns") else 0)  # the waiting process and pid 1 count too
            resource.setrlimit(resource.RLIMIT_NPROC, (n, n))
    os.chdir(spec["cwd"])
    if spec["uid"] is not None:
        _drop_to_uid(spec["uid"], spec["nproc"])
    if spec.get("pdeathsig"):
        _die_with_parent()


# --- after the drop: the caller's program ------------------------------------------------------


def run_program(program):
    """Read ``program["file"]`` from the work dir (as the run's uid) and execute it as a fresh
    ``__main__`` module, with ``sys.argv = ["main", *program["argv"]]`` and ``program["env"]``
    added to the environment. Exceptions and ``SystemExit`` propagate to the caller's runner."""
    with open(program["file"], encoding="utf-8") as f:
        source = f.read()
    os.environ.update(program["env"])
    main_module = types.ModuleType("__main__")
    main_module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main_module
    sys.argv = ["main"] + list(program["argv"])
    exec(compile(source, program["filename"], "exec"), main_module.__dict__)


def run(spec):
    """The run itself: :func:`enter_isolation`, then :func:`run_program`. The only way this file
    runs anything of the caller's."""
    enter_isolation(spec)
    run_program(spec["program"])


def main():
    """A ``spawn`` child: ``python -I -S -c <this file> <spec JSON>``."""
    spec = json.loads(sys.argv[1])
    set_rlimits(spec["rlimits"])
    place_fds([0, 1, 2] + list(spec.get("channel_fds", ())))
    import_modules(spec["preload"], spec["packages"])
    run(spec)


if __name__ == "__main__":
    main()
