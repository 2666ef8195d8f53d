"""``spawn`` mode: each run is a fresh ``python -I -S`` interpreter running the child side of the
sandbox (``_child.py``, given as ``-c`` text; isolated mode, no site-packages, nothing of the
parent's ``sys.path``). Also the fallback when the zygote cannot serve a run.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import sys
from typing import Optional

from metaagent_sandbox.cleanup import kill_child


@functools.lru_cache(maxsize=1)
def child_source() -> str:
    """The text of ``_child.py``: what a spawned interpreter runs."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_child.py"), encoding="utf-8") as f:
        return f.read()


def spawn_child(spec_json: str, env: dict, cwd: str, child_fds: list) -> "SpawnedChild":
    """Start a fresh interpreter for one run: ``child_fds`` are its stdin, stdout, stderr (and the
    channel's two fds, which ``_child.main`` moves to ``CHANNEL_FDS``), in a new session, with only
    ``env``. The caller keeps (and closes) its ``child_fds``."""
    popen = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", child_source(), spec_json],  # no site-packages in the child
        stdin=child_fds[0], stdout=child_fds[1], stderr=child_fds[2], pass_fds=tuple(child_fds[3:]),
        env=env, cwd=cwd, start_new_session=True,
    )
    return SpawnedChild(asyncio.get_running_loop(), popen)


class SpawnedChild:
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
        """SIGKILL the child and its process group (the child leads its own session), also after the
        child itself exited (not root, no uid sweep follows)."""
        kill_child(self.pid, self.pidfd, self.returncode is None)

    def close(self) -> None:
        """Stop watching and release the pidfd (after the run); reap the child if it has exited."""
        self._check()
        self._stop_watching()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
