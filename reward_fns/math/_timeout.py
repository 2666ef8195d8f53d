"""Hard per-call timeouts for sympy / math-verify work: a small pool of worker processes.

sympy and math-verify can hang on pathological input (``10^{10^{10}}``, huge factorials) and
their own SIGALRM timeouts only work on a process's main thread. Here each call goes to a
worker process (``python -m reward_fns.math._timeout``, JSON lines over pipes); if it does not
answer within the deadline the worker is killed and replaced, and the caller gets
:class:`CallTimeout`. Works from any thread and any event loop; thread-safe. Workers start on
first use (a fresh interpreter, so nothing of the parent — threads, CUDA, Ray — is inherited).
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
from typing import Any


class CallTimeout(Exception):
    """The call did not finish within its deadline (its worker was killed)."""


class _Worker:
    def __init__(self) -> None:
        env = dict(os.environ)
        pkg_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env["PYTHONPATH"] = pkg_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "reward_fns.math._timeout"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        self._buf = b""

    def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float) -> Any:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CallTimeout(f"no answer within {timeout:.1f}s")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError("worker exited")
                self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(2)
        except Exception:
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f:
                    f.close()
            except Exception:
                pass


class WorkerPool:
    """``call(target, args, timeout)`` on one of ``size`` worker processes with a hard deadline.

    ``target`` is ``"module:function"`` (imported in the worker); args and result are JSON.
    """

    def __init__(self, size: int = 2) -> None:
        self.size = max(1, size)
        self._idle: "queue.Queue[_Worker]" = queue.Queue()
        self._started = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _acquire(self) -> _Worker:
        while True:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
            with self._lock:
                if self._started < self.size:
                    self._started += 1
                    try:
                        return _Worker()
                    except Exception:
                        self._started -= 1
                        raise
            try:  # all busy: wait for one to come back (or be killed, freeing a start slot)
                return self._idle.get(timeout=0.05)
            except queue.Empty:
                continue

    def call(self, target: str, args: list, timeout: float, start_timeout: float = 60.0) -> Any:
        """Run ``target(*args)`` in a worker; raise :class:`CallTimeout` after ``timeout`` seconds.

        A fresh worker first reports ready (imports done) within ``start_timeout``; the call's
        own deadline does not include interpreter start-up.
        """
        worker = self._acquire()
        healthy = False
        try:
            if not getattr(worker, "ready", False):
                worker.recv(start_timeout)
                worker.ready = True
            worker.send([target, list(args)])
            ok, value = worker.recv(timeout)
            healthy = True
        except CallTimeout:
            raise CallTimeout(f"{target} exceeded {timeout:.1f}s")
        except (EOFError, OSError, ValueError) as exc:
            raise RuntimeError(f"math worker failed: {exc}") from exc
        finally:
            if healthy:
                self._idle.put(worker)
            else:
                worker.kill()
                with self._lock:
                    self._started -= 1
        if not ok:
            raise RuntimeError(value)
        return value

    def close(self) -> None:
        """Stop every idle worker."""
        while True:
            try:
                w = self._idle.get_nowait()
            except queue.Empty:
                break
            w.kill()
            with self._lock:
                self._started -= 1


_POOL: "WorkerPool | None" = None
_POOL_LOCK = threading.Lock()


def get_pool() -> WorkerPool:
    """The process-wide pool (size from ``REWARD_FNS_MATH_WORKERS``, default min(4, cpus))."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._pid != os.getpid():
            size = int(os.environ.get("REWARD_FNS_MATH_WORKERS", min(4, os.cpu_count() or 1)))
            _POOL = WorkerPool(size)
            atexit.register(_POOL.close)
        return _POOL


def _serve() -> None:  # the worker process
    import logging

    logging.disable(logging.WARNING)
    out = sys.stdout.buffer
    try:
        importlib.import_module("reward_fns.math.symbolic").warm_up()
    except Exception:
        pass
    out.write(b'"ready"\n')
    out.flush()
    for line in sys.stdin.buffer:
        try:
            target, args = json.loads(line)
            module, name = target.rsplit(":", 1)
            value = getattr(importlib.import_module(module), name)(*args)
            reply = [True, value]
        except Exception as exc:  # noqa: BLE001 - report and keep serving
            reply = [False, f"{type(exc).__name__}: {exc}"]
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve()
