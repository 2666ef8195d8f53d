"""The sandbox fork-server ("zygote"): run as ``python -I -S _zygote_main.py ARGS``, never imported.

Started by :mod:`metaagent_sandbox.zygote` with a scrubbed environment and one inherited
``AF_UNIX``/``SOCK_SEQPACKET`` control socket. It loads the child side of the sandbox
(``_child.py``, next to this file), imports the preload modules once (trusted, installed code,
named by the parent: no code comes with the request) and builds the file-system jail, then splits
in two processes that share the warm heap copy-on-write:

* the **coordinator** (this process; the parent talks to it) serves the parent, single-threaded:
  parent -> coordinator ``{"op": "spawn", "argv1", "env", "cwd", "rlimits", "netns", "jail"}``
  with the run's status socket and the child's stdio (and channel) fds attached (``SCM_RIGHTS``).
  ``argv1`` is the run's spec (JSON data, see ``_child.py``). It asks the forker for a child,
  hands the child its request (the spec, the fds, the network namespace), and answers on the
  run's status socket:
  ``{"pid"}`` with a pidfd of the child attached, then ``{"exit"}`` (the return code: negative
  signal number when killed) once the child has exited; or ``{"error"}`` when the child could not
  be created. The control socket carries only ``{"ready", "jail", "forker"}`` (after the warm-up);
  its EOF tells each side the other is gone.
* the **forker** (a child of the coordinator) only forks and reaps. Every fork re-shares the
  forker's pages copy-on-write with the new child, so each page the forking process writes
  afterwards is copied again: the coordinator's JSON, selector and socket work wrote ~200 pages
  per run (~2 ms of CPU, most of the zygote's cost per run); the forker's loop writes ~40. It is a
  child subreaper: what a run leaves behind is re-parented to it and reaped at once.
* a **run child** (a child of the forker) receives its request from the coordinator over a
  socket of its own, severs every tie to the zygote, applies the run's process-level protections
  (new session, rlimits, parent-death signal, fds 0..k-1, the file-system jail, chdir,
  environment) and returns to the module's top level, which calls ``_child.run(spec)`` -- the
  isolation and privilege drop, then the caller's program -- and ends like an interpreter would.

The zygote never runs untrusted code itself; children get a copy-on-write snapshot of a process
that never ran a design, so nothing a run does reaches the next one. It exits when the control
socket closes, and (``PR_SET_PDEATHSIG``) when the parent thread that started it dies; the forker
dies with the coordinator and each run with the forker.
"""

import collections
import gc
import json
import os
import select
import selectors
import signal
import socket
import sys
import types
from typing import Optional

_PR_SET_CHILD_SUBREAPER = 36
#: Network namespaces kept per key (the run's uid); the oldest is dropped beyond this many.
_NETNS_CACHE = 256
_MAX_REQUEST = 1 << 20
_MAX_FDS = 8
#: Exit status of a run child that received no (complete) request.
_EXIT_NO_REQUEST = 70
#: Exit status of a run child whose parent is not the forker any more (it died before the death signal was armed).
_EXIT_ORPHANED = 71


def _load_child() -> types.ModuleType:
    """The child side of the sandbox (``_child.py`` next to this file), loaded as a module."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_child.py")
    module = types.ModuleType("_sandbox_child")
    module.__file__ = path
    with open(path, encoding="utf-8") as f:
        exec(compile(f.read(), path, "exec"), module.__dict__)
    return module


_CHILD = _load_child()
_ZYGOTE_OBJECTS: list = []
_JAIL_ROOT: Optional[str] = None  # where the file-system jail is mounted (in this process's namespace)


def _send(sock: socket.socket, message: dict, fds=()) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


class _NetNamespaces:
    """Empty network namespaces, one per key (a sandbox uid), reused by that key's later runs.

    Creating a namespace costs a millisecond or more of kernel time per run (and as much again to
    tear it down); a uid's runs never overlap and every process of the uid is killed between them,
    so the namespace is empty whenever it is handed to the next run of the same uid.
    """

    def __init__(self) -> None:
        self._fds: dict = {}
        self._own: Optional[int] = None  # the coordinator's own namespace, to return to

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
        if self._own is None:
            self._own = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        if _CHILD.LIBC.unshare(_CHILD.CLONE_NEWNET) != 0:
            return None
        try:
            return os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            if _CHILD.LIBC.setns(self._own, _CHILD.CLONE_NEWNET) != 0:
                os._exit(1)  # never serve runs from inside a run's namespace


def _enter_netns(netns_fd: Optional[int]) -> None:
    """In the child: join the prepared namespace, or make a fresh one; exit 97 if neither works."""
    libc, flag = _CHILD.LIBC, _CHILD.CLONE_NEWNET
    ok = libc.setns(netns_fd, flag) == 0 if netns_fd is not None else libc.unshare(flag) == 0
    if not ok:
        os._exit(_CHILD.EXIT_NO_ISOLATION)  # never run without the requested isolation


def _set_environment(env: dict) -> None:
    """Make ``os.environ`` exactly ``env``, touching only what differs (the zygote's environment is
    already the scrubbed base; clearing and refilling it costs a child dozens of page copies)."""
    for key in [k for k in os.environ if k not in env]:
        del os.environ[key]
    for key, value in env.items():
        if os.environ.get(key) != value:
            os.environ[key] = value


def _become_child(request: dict, fds: list, forker_pid: int, netns_fd: Optional[int]) -> None:
    """In the run child: apply the run's process-level protections (``_child.run`` does the rest)."""
    os.setsid()
    _CHILD.prctl(_CHILD.PR_SET_PDEATHSIG, signal.SIGKILL)  # the forker dies -> the run dies (re-set after the uid drop)
    if os.getppid() != forker_pid:
        os._exit(_EXIT_ORPHANED)
    if request.get("netns") is not None:
        _enter_netns(netns_fd)
    _CHILD.set_rlimits(request["rlimits"])
    _CHILD.place_fds(fds)
    if request.get("jail"):
        if _JAIL_ROOT is None:
            os._exit(_CHILD.EXIT_NO_ISOLATION)  # never run without the requested isolation
        os.chroot(_JAIL_ROOT)  # safe: the run drops to an unprivileged uid, and no fd of ours points outside
    os.chdir(request["cwd"])
    _set_environment({str(k): str(v) for k, v in request["env"].items()})
    # ``random`` is reseeded from os.urandom by CPython's own at-fork handler: each run draws
    # fresh numbers, as a fresh interpreter would (test_no_state_leaks_between_runs).
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # re-read TMPDIR


def _reply(status: socket.socket, message: dict, fds=()) -> None:
    """Send on a run's status socket; a parent that stopped listening is not the zygote's problem."""
    try:
        _send(status, message, fds)
    except OSError:
        pass


# --- the forker --------------------------------------------------------------------------------
# Coordinator -> forker: one byte with the run child's handoff socket attached (the run's request
# already waits in it, so the child starts at once). Forker -> coordinator, in request order:
# b"p<pid>" with a pidfd of the child (opened before the forker can reap it: never a reused pid)
# or b"e<reason>" (fork failed); and b"x<pid> <wait status>" for every child it reaps (runs and
# the orphans they left behind).


def _forker(sock: socket.socket, coordinator_pid: int) -> int:
    """The forker's loop; returns only in a forked run child: the fd of its handoff socket.

    Kept to a few system calls per event: whatever it writes is copied again after every fork.
    """
    _CHILD.prctl(_CHILD.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != coordinator_pid:
        os._exit(0)
    _CHILD.prctl(_PR_SET_CHILD_SUBREAPER, 1)
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    poller.register(wake_r, select.POLLIN)
    _ZYGOTE_OBJECTS.append((sock, poller))  # never finalized in a child (see _serve)
    while True:
        for fd, _ in poller.poll():
            if fd == wake_r:
                _reap_into(sock, wake_r)
                continue
            try:
                _, fds, _, _ = socket.recv_fds(sock, 16, 1)
            except OSError:
                fds = []
            if not fds:
                os._exit(0)  # the coordinator is gone; running children die of their parent-death signal
            try:
                pid = os.fork()
            except OSError as exc:  # EAGAIN / ENOMEM: this run cannot start; the forker goes on
                os.close(fds[0])
                sock.send(b"e%s" % str(exc).encode())
                continue
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the subreaper flag is not inherited
                return fds[0]
            os.close(fds[0])
            try:
                pidfd = os.pidfd_open(pid)  # not reaped yet (only this loop reaps): the right process
            except OSError as exc:  # out of fds: end the child before anyone depends on it
                os.kill(pid, signal.SIGKILL)
                sock.send(b"e%s" % str(exc).encode())
                continue
            socket.send_fds(sock, [b"p%d" % pid], [pidfd])
            os.close(pidfd)


def _reap_into(sock: socket.socket, wake_r: int) -> None:
    """Reap every exited child of the forker and report each to the coordinator."""
    try:
        while os.read(wake_r, 512):
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
        sock.send(b"x%d %d" % (pid, status))


def _receive_run(handoff_fd: int, forker_pid: int) -> dict:
    """In a new run child: read the request the coordinator sends, become the run; return its spec."""
    handoff = socket.socket(fileno=handoff_fd)
    _ZYGOTE_OBJECTS.append(handoff)
    try:
        data, fds, _, _ = socket.recv_fds(handoff, _MAX_REQUEST, _MAX_FDS + 1)
        request = json.loads(data)
        netns_fd = fds.pop() if request.pop("netns_fd", False) else None
        spec = json.loads(request["argv1"])
    except Exception:
        os._exit(_EXIT_NO_REQUEST)  # no (complete) request: the coordinator gave up on this run
    _become_child(request, fds, forker_pid, netns_fd)
    return spec


# --- the coordinator ---------------------------------------------------------------------------


class _ForkRequests:
    """The coordinator's fork requests to the forker, in order, never blocking the coordinator.

    The forker may itself block sending to the coordinator (a burst of reaped orphans): were the
    coordinator then blocked sending a request, neither would ever read. Requests the socket does
    not take now wait here and go out when it is writable.
    """

    def __init__(self, sock: socket.socket, sel: selectors.BaseSelector):
        self.sock, self.sel = sock, sel
        self.queue: collections.deque = collections.deque()  # child ends of handoff sockets
        self.writing = False
        sock.setblocking(False)

    def ask(self, child_end: socket.socket) -> None:
        """Ask for one more run child, handed ``child_end``."""
        self.queue.append(child_end)
        self.flush()

    def flush(self) -> None:
        """Send what the socket takes; watch for writability while anything is left."""
        while self.queue:
            try:
                socket.send_fds(self.sock, [b"f"], [self.queue[0].fileno()])
            except BlockingIOError:
                break
            except OSError:
                os._exit(1)  # the forker is gone: the parent starts a new zygote
            self.queue.popleft().close()
        if self.writing != bool(self.queue):
            self.writing = bool(self.queue)
            self.sel.modify(self.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if self.writing else 0), "forker")


def _start_forker(coordinator_pid: int, control_fd: int):
    """Fork the forker; in the coordinator returns ``(socket, pid)``, in a run child its spec (a dict)."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        os.close(control_fd)  # the parent sees EOF as soon as the coordinator is gone
        _ZYGOTE_OBJECTS.append(mine)  # its fd is closed with all others by each run child
        handoff_fd = _forker(theirs, coordinator_pid)
        return _receive_run(handoff_fd, os.getppid())
    theirs.close()
    return mine, pid


def _serve(control_fd: int) -> dict:
    """Start the forker, then serve spawn requests until the parent goes away.

    Returns only inside a forked run child (its spec). A request's first fd is the run's
    status socket: the coordinator answers there (pid + pidfd, then the exit status) and closes
    it, so each run's parent-side event loop reads its own answers.
    """
    zygote_pid = os.getpid()
    started = _start_forker(zygote_pid, control_fd)
    if isinstance(started, dict):
        return started  # a run child
    forker, forker_pid = started
    sock = socket.socket(fileno=control_fd)  # made after the fork: no run child holds this object
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "parent")
    sel.register(forker, selectors.EVENT_READ, "forker")
    requests = _ForkRequests(forker, sel)
    waiting: collections.deque = collections.deque()  # status sockets of the runs asked of the forker, in order
    running: dict = {}  # pid -> status socket
    namespaces = _NetNamespaces()
    _send(sock, {"ready": zygote_pid, "jail": _JAIL_ROOT is not None, "forker": forker_pid})
    while True:
        for key, events in sel.select():
            if key.data == "forker":
                if events & selectors.EVENT_WRITE:
                    requests.flush()
                if events & selectors.EVENT_READ:
                    _forker_said(forker, waiting, running)
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
                if request.get("op") != "spawn" or not isinstance(request.get("argv1"), str) or len(fds) < 4:
                    raise ValueError("not a spawn request")
            except (ValueError, TypeError, AttributeError):
                for fd in fds:
                    os.close(fd)
                continue
            status, fds = socket.socket(fileno=fds[0]), fds[1:]
            status.setblocking(False)  # never wait on a parent that stopped listening
            netns_key = request.get("netns")
            netns_fd = namespaces.get(netns_key) if isinstance(netns_key, int) and netns_key >= 0 else None
            header = {k: request[k] for k in ("argv1", "env", "cwd", "rlimits", "netns", "jail") if k in request}
            header["netns_fd"] = netns_fd is not None
            handoff, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                # The request (and copies of its fds) wait in the child's socket; ours are closed now.
                extra = [netns_fd] if netns_fd is not None else []
                socket.send_fds(handoff, [json.dumps(header).encode()], fds + extra)
            except OSError as exc:
                _reply(status, {"error": f"handoff failed: {exc}"})
                status.close()
                handoff.close()
                child_end.close()
                continue
            finally:
                for fd in fds:
                    os.close(fd)
            handoff.close()  # the child reads what is queued; EOF after it
            waiting.append(status)
            requests.ask(child_end)


def _forker_said(forker: socket.socket, waiting: collections.deque, running: dict) -> None:
    """Read and act on one message of the forker (see ``_forker``)."""
    try:
        message, fds, _, _ = socket.recv_fds(forker, 256, 1)
    except BlockingIOError:
        return
    except OSError:
        message, fds = b"", []
    if not message:
        os._exit(1)  # the forker died: the parent starts a new zygote
    kind, body = message[:1], message[1:]
    if kind == b"x":
        pid, wait_status = (int(v) for v in body.split())
        status = running.pop(pid, None)
        if status is not None:  # a run's main child (else an orphan the forker reaped)
            _reply(status, {"exit": os.waitstatus_to_exitcode(wait_status)})
            status.close()
        return
    if not waiting:  # never asked for (cannot happen): drop it rather than the zygote
        for fd in fds:
            os.close(fd)
        return
    status = waiting.popleft()
    if kind == b"p" and fds:
        running[int(body)] = status
        _reply(status, {"pid": int(body)}, fds)
    else:
        _reply(status, {"error": f"fork failed: {body.decode(errors='replace')}"})
        status.close()
    for fd in fds:
        os.close(fd)


def _enter_jail_namespace(jail: Optional[dict]) -> Optional[str]:
    """Build the file-system jail in this process's own (new) mount namespace; its root, or None.

    The zygote itself stays in the host's view (it only gains a private mount namespace with the
    jail mounted at ``root``); its children ``chroot`` into the jail (see ``jail.py``).
    """
    if not jail:
        return None
    try:
        return jail["root"] if _CHILD.build_jail(jail) else None
    except Exception:
        return None


def _start() -> dict:
    global _JAIL_ROOT
    config = json.loads(sys.argv[1])
    _CHILD.prctl(_CHILD.PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != config["parent_pid"]:
        os._exit(0)  # the parent died before the death signal was armed
    _CHILD.prctl(_CHILD.PR_SET_DUMPABLE, 0)  # same-uid runs (when not root) cannot ptrace the zygote
    os.chdir("/")
    _CHILD.import_modules(config["preload"], config["packages"])
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
    _spec = _start()
    # From here on: a forked run child. Isolate, drop, run the program as ``python -c`` would.
    try:
        _CHILD.run(_spec)
        _status = 0
    except SystemExit as _exc:
        _status = _exit_status(_exc)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        _status = 1
    _finish(_status)
