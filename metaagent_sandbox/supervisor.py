"""One run's life on the parent's event loop: its pipes, output caps, wall clock and end.

A :class:`Supervisor` owns the parent's ends of a child's stdio (and channel) pipes and decides
when the run is over; the child itself is a ``ZygoteChild`` or ``SpawnedChild`` (same interface:
``pid``, ``returncode``, ``exited``, ``kill()``, ``close()``, ``loop``).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Awaitable, Callable, Optional

from metaagent_sandbox.child_io import Channel, InputFeeder, LineReader, OutputCollector
from metaagent_sandbox.cleanup import sweeper
from metaagent_sandbox.limits import SandboxLimits


class SandboxAbort(Exception):
    """Raised by a ``serve`` coroutine to stop the child: ``status`` and ``reason`` end the run."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


#: ``serve(reader, write)``: ``await reader.readline()`` gives the child's lines, ``write(dict)`` replies.
Serve = Callable[[LineReader, Callable[[dict], None]], Awaitable[None]]

#: After the main child exited, how long its pipes may stay open before every process of its uid is killed.
PIPE_GRACE_SECONDS = 0.05

#: Longest JSON line a child may send on its channel (bigger -> the run is aborted).
CHANNEL_LINE_LIMIT = 4 << 20


class Supervisor:
    """One run's child, pipes and termination logic on the event loop (see ``run_in_sandbox``).

    :meth:`watch` resolves when the run is over: the child exited and every pipe reached end of
    file (``ok``; the return code decides further), or the wall clock ran out (``timeout``), or
    the output cap was exceeded (``output_limit``), or ``serve`` aborted the run
    (:class:`SandboxAbort`). When the child exits, its process group is killed at once, and --
    if its pipes are still held open :data:`PIPE_GRACE_SECONDS` later -- every process of its uid.
    """

    def __init__(self, limits: SandboxLimits, uid: Optional[int]):
        self.limits = limits
        self.uid = uid
        self.uid_empty = False  # known: no process of the run's uid is alive
        self.started = time.monotonic()
        self.child = None  # ZygoteChild | SpawnedChild
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
            channel = Channel(loop, fds.pop("from_child"), fds.pop("to_child"), CHANNEL_LINE_LIMIT)
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
            self.child.loop.call_later(PIPE_GRACE_SECONDS, self._sweep_if_pipes_open)
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
