"""The sandbox fork-server ("zygote"): run as ``python -I -S _zygote_main.py ARGS``, never imported.

Started by :mod:`verl_metaagent.sandbox.zygote` with a scrubbed environment and one inherited
``AF_UNIX``/``SOCK_SEQPACKET`` control socket. It runs trusted warm-up code once (imports), then
serves the parent, single-threaded:

* parent -> zygote ``{"op": "spawn", "boot", "argv1", "env", "cwd", "rlimits", "netns", "jail"}`` with the run's
  status socket and the child's stdio (and channel) fds attached (``SCM_RIGHTS``). The zygote forks; the child
  severs every tie to the zygote, applies the run's protections (new session, rlimits, parent-death
  signal, fds 0..k-1, the file-system jail, chdir, environment) and returns to the module's top level, which runs
  ``boot`` as ``__main__`` exactly like ``python -I -S -c boot argv1`` would.
* zygote -> parent, on the run's status socket: ``{"pid"}`` with a pidfd of the child attached,
  then ``{"exit"}`` (the return code: negative signal number when killed) once the child has
  exited; or ``{"error"}`` when the child could not be created. The control socket carries only
  ``{"ready", "jail"}`` (after the warm-up; whether the jail was built); its EOF tells each side the
  other is gone.

The zygote never runs untrusted code itself; children get a copy-on-write snapshot of a process
that never ran a design, so nothing a run does reaches the next one. It exits when the control
socket closes, and (``PR_SET_PDEATHSIG``) when the parent thread that started it dies.
"""

import ctypes
import fcntl
import gc
import json
import os
import resource
import selectors
import signal
import socket
import sys
from typing import Optional

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_NEWNET = 0x40000000
#: Network namespaces kept per key (the run's uid); the oldest is dropped beyond this many.
_NETNS_CACHE = 256
_MAX_REQUEST = 1 << 20
_MAX_FDS = 8
#: Compiled boot programs kept by the zygote (children inherit them: no per-run compile).
_BOOT_CACHE = 8


def _compiled_boot(cache: dict, boot: str):
    """``boot`` compiled once in the zygote (the parent sends the same few boot programs)."""
    code = cache.get(boot)
    if code is None:
        code = compile(boot, "<string>", "exec")
        while len(cache) >= _BOOT_CACHE:
            cache.pop(next(iter(cache)))
        cache[boot] = code
    return code


_ZYGOTE_OBJECTS: list = []
_JAIL_ROOT: Optional[str] = None  # where the file-system jail is mounted (in this process's namespace)
_LIBC = ctypes.CDLL(None, use_errno=True)  # one handle, inherited by every child


def _prctl(option: int, value: int) -> None:
    _LIBC.prctl(option, value, 0, 0, 0)


def _send(sock: socket.socket, message: dict, fds=()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def _place_fds(fds: list) -> None:
    """Make ``fds`` the child's fds ``0 .. len(fds) - 1`` and close every other fd."""
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in fds]  # out of the way of the targets
    for target, fd in enumerate(high):
        os.dup2(fd, target)  # inheritable, like pass_fds
    os.closerange(len(fds), 1 << 20)


class _NetNamespaces:
    """Empty network namespaces, one per key (a sandbox uid), reused by that key's later runs.

    Creating a namespace costs a millisecond or more of kernel time per run (and as much again to
    tear it down); a uid's runs never overlap and every process of the uid is killed between them,
    so the namespace is empty whenever it is handed to the next run of the same uid.
    """

    def __init__(self) -> None:
        self._fds: dict = {}
        self._own: Optional[int] = None
        self._libc = None

    def get(self, key: int) -> Optional[int]:
        """An fd of ``key``'s namespace (created on first use), or None if none can be made."""
        fd = self._fds.pop(key, None)
        if fd is None:
            fd = self._create()
            if fd is None:
                return None
            while len(self._fds) >= _NETNS_CACHE:
                os.close(self._fds.pop(next(iter(self._fds))))
        self._fds[key] = fd  # most recently used last
        return fd

    def _create(self) -> Optional[int]:
        if self._libc is None:
            self._libc = _LIBC
            self._own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        if self._libc.unshare(_CLONE_NEWNET) != 0:
            return None
        try:
            return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            if self._libc.setns(self._own, _CLONE_NEWNET) != 0:
                os._exit(1)  # never serve runs from inside a run's namespace

    def fds(self) -> list:
        """Every fd this object holds (a forked child closes them)."""
        return list(self._fds.values()) + ([self._own] if self._own is not None else [])


def _enter_netns(netns_fd: Optional[int]) -> None:
    """In the child: join the prepared namespace, or make a fresh one; exit 97 if neither works."""
    libc = _LIBC
    ok = libc.setns(netns_fd, _CLONE_NEWNET) == 0 if netns_fd is not None else libc.unshare(_CLONE_NEWNET) == 0
    if not ok:
        os._exit(97)  # as the drop sequence does: never run without the requested isolation


def _set_environment(env: dict) -> None:
    """Make ``os.environ`` exactly ``env``, touching only what differs (the zygote's environment is
    already the scrubbed base; clearing and refilling it costs a child dozens of page copies)."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _become_child(request: dict, code, fds: list, zygote_pid: int, netns_fd: Optional[int]) -> dict:
    """In the forked child: apply the run's process-level protections; return the boot job."""
    os.setsid()
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote dies -> the run dies (re-set after the uid drop)
    if os.getppid() != zygote_pid:
        os._exit(71)
    if request.get("netns") is not None:
        _enter_netns(netns_fd)
    limits = request["rlimits"]
    resource.setrlimit(resource.RLIMIT_AS, (limits["mem"], limits["mem"]))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu"], limits["cpu"] + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["fsize"], limits["fsize"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _place_fds(fds)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
    if request.get("jail"):
        if _JAIL_ROOT is None:
            os._exit(97)  # never run without the requested isolation
        os.chroot(_JAIL_ROOT)  # safe: the boot drops to an unprivileged uid, and no fd of ours points outside
    os.chdir(request["cwd"])
    _set_environment({str(k): str(v) for k, v in request["env"].items()})
    for name in ("random", "tempfile"):
        module = sys.modules.get(name)
        if module is not None and name == "random":
            module.seed()  # a fresh seed per run, as a fresh interpreter would have
        elif module is not None:
            module.tempdir = None  # re-read TMPDIR
    sys.argv = ["-c", request["argv1"]]
    return {"code": code}


def _reply(status: socket.socket, message: dict, fds=()) -> None:
    """Send on a run's status socket; a parent that stopped listening is not the zygote's problem."""
    try:
        _send(status, message, fds)
    except OSError:
        pass


class _OrphanReaper:
    """The zygote is a child subreaper: processes a run leaves behind (forked, then orphaned when
    the run's main process exits or is killed) become its children, and it reaps them as soon as
    they die. Their zombies would otherwise wait for the host's init -- every half second here,
    never where pid 1 is a program that does not reap -- and keep counting towards the process
    cap of the run's uid, so the next run of that uid could not fork.

    SIGCHLD wakes the selector through ``signal.set_wakeup_fd``. Reaping is by ``waitpid(-1)``; a
    run's main child reaped that way keeps its status here for the pidfd path (:meth:`wait`).
    """

    def __init__(self, sel: selectors.BaseSelector):
        self.statuses: dict = {}  # main children reaped early: pid -> wait status
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
        signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        sel.register(self._r, selectors.EVENT_READ, _OrphanReaper)

    def reap(self, main_children: set) -> None:
        """Reap every child that has exited; keep the statuses of runs' main children."""
        try:
            while os.read(self._r, 512):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in main_children:
                self.statuses[pid] = status

    def wait(self, pid: int) -> int:
        """The wait status of run main child ``pid`` (reaped now, or earlier by :meth:`reap`)."""
        status = self.statuses.pop(pid, None)
        return status if status is not None else os.waitpid(pid, 0)[1]

    def forget_in_child(self) -> None:
        """In a forked run child: no wakeup fd, default SIGCHLD (the subreaper flag is not inherited)."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def _serve(control_fd: int) -> dict:
    """Serve spawn requests until the parent goes away; returns only inside a forked child.

    A request's first fd is the run's status socket: the zygote answers there (pid + pidfd, then
    the exit status) and closes it, so each run's parent-side event loop reads its own answers.
    """
    sock = socket.socket(fileno=control_fd)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, None)
    children: dict = {}  # pidfd -> (pid, status socket)
    orphans = _OrphanReaper(sel)
    namespaces = _NetNamespaces()
    boots: dict = {}
    zygote_pid = os.getpid()
    _send(sock, {"ready": zygote_pid, "jail": _JAIL_ROOT is not None})
    while True:
        for key, _ in sel.select():
            if key.data is _OrphanReaper:  # SIGCHLD: reap the runs' orphans
                orphans.reap({pid for pid, _ in children.values()})
                continue
            if key.data is not None:  # a child exited
                pidfd = key.fd
                pid, status = key.data
                sel.unregister(pidfd)
                os.close(pidfd)
                del children[pidfd]
                _reply(status, {"exit": os.waitstatus_to_exitcode(orphans.wait(pid))})
                status.close()
                continue
            try:
                data, fds, _, _ = socket.recv_fds(sock, _MAX_REQUEST, _MAX_FDS)
            except OSError:
                data, fds = b"", []
            if not data:
                for fd in fds:
                    os.close(fd)
                os._exit(0)  # the parent is gone; running children die of their parent-death signal
            try:
                request = json.loads(data)
                if request.get("op") != "spawn" or not isinstance(request.get("boot"), str) or len(fds) < 4:
                    raise ValueError("not a spawn request")
            except (ValueError, TypeError, AttributeError):
                for fd in fds:
                    os.close(fd)
                continue
            status, fds = socket.socket(fileno=fds[0]), fds[1:]
            status.setblocking(False)  # never wait on a parent that stopped listening
            try:
                code = _compiled_boot(boots, request["boot"])
            except (SyntaxError, ValueError) as exc:
                for fd in fds:
                    os.close(fd)
                _reply(status, {"error": f"boot does not compile: {exc}"})
                status.close()
                continue
            netns_key = request.get("netns")
            netns_fd = namespaces.get(netns_key) if isinstance(netns_key, int) and netns_key >= 0 else None
            try:
                pid = os.fork()
            except OSError as exc:  # EAGAIN / ENOMEM: this run cannot start; the zygote goes on
                for fd in fds:
                    os.close(fd)
                _reply(status, {"error": f"fork failed: {exc}"})
                status.close()
                continue
            if pid == 0:
                try:
                    # The zygote's fds (control socket, selector, other runs' pidfds and status
                    # sockets) are closed by _place_fds' closerange; their objects are kept alive
                    # for the child's lifetime so no finalizer ever closes a reused fd number
                    # (and no page of them is written: closing each object costs page copies).
                    _ZYGOTE_OBJECTS.append((sock, sel, children, status, namespaces, orphans))
                    orphans.forget_in_child()
                    return _become_child(request, code, fds, zygote_pid, netns_fd)
                except BaseException:
                    os._exit(70)  # never fall back into the zygote loop
            for fd in fds:
                os.close(fd)
            try:
                pidfd = os.pidfd_open(pid)
            except OSError as exc:  # out of fds: end the child before anyone depends on it
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                _reply(status, {"error": f"pidfd_open failed: {exc}"})
                status.close()
                continue
            children[pidfd] = (pid, status)
            sel.register(pidfd, selectors.EVENT_READ, (pid, status))
            _reply(status, {"pid": pid}, [pidfd])


def _enter_jail_namespace(jail: Optional[dict]) -> Optional[str]:
    """Build the file-system jail in this process's own (new) mount namespace; its root, or None.

    The zygote itself stays in the host's view (it only gains a private mount namespace with the
    jail mounted at ``root``); its children ``chroot`` into the jail (see ``jail.py``).
    """
    if not jail:
        return None
    scope: dict = {}
    try:
        exec(compile(jail["source"], "<sandbox-jail>", "exec"), scope)
        return jail["root"] if scope["_build_jail"](jail) else None
    except Exception:
        return None


def _start() -> dict:
    global _JAIL_ROOT
    config = json.loads(sys.argv[1])
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != config["parent_pid"]:
        os._exit(0)  # the parent died before the death signal was armed
    _prctl(_PR_SET_DUMPABLE, 0)  # same-uid runs (when not root) cannot ptrace the zygote
    os.chdir("/")
    exec(compile(config["preload"], "<sandbox-preload>", "exec"), {"__name__": "__sandbox_preload__"})
    _JAIL_ROOT = _enter_jail_namespace(config.get("jail"))
    gc.collect()
    gc.freeze()  # keep the warm heap shared copy-on-write with the children
    return _serve(int(config["control_fd"]))


def _exit_status(exc: SystemExit) -> int:
    """The exit status the interpreter gives an uncaught ``SystemExit`` (printing a non-int code)."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _finish(status: int) -> None:
    """End a child like the interpreter would (threads joined, atexit, stdio flushed), minus the
    module teardown (milliseconds of a warm heap's worth of deallocation): ``os._exit``."""
    import atexit

    threading = sys.modules.get("threading")
    try:
        if threading is not None:
            threading._shutdown()  # wait for non-daemon threads
        atexit._run_exitfuncs()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            status = status or 120  # as the interpreter does when flushing stdout fails
    os._exit(status)


if __name__ == "__main__":
    _job = _start()
    # From here on: a forked child. Run the boot as a fresh __main__, as `python -c boot` would.
    import types as _types

    _main = _types.ModuleType("__main__")
    _main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = _main
    _code = _job["code"]
    del _job, _types, _start, _serve, _become_child, _place_fds, _send, _prctl, _compiled_boot
    try:
        exec(_code, _main.__dict__)
        _status = 0
    except SystemExit as _exc:
        _status = _exit_status(_exc)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        _status = 1
    _finish(_status)
