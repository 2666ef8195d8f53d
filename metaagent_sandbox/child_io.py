"""The parent's side of a sandboxed child's pipes, driven by raw event-loop fd callbacks.

A rollout worker's event loop runs hundreds of sandboxed executions next to its LLM traffic, so
what each execution costs the loop matters: asyncio's pipe transports, stream readers and one
task per pipe cost ~30 event-loop iterations and ~60 callbacks per execution. Here each pipe is
one ``add_reader``/``add_writer`` registration and a few plain callbacks:

* :class:`OutputCollector` -- reads a child's stdout/stderr into a buffer, up to a cap;
* :class:`InputFeeder` -- writes a child's stdin without ever blocking the loop;
* :class:`Channel` -- the JSON-lines channel of the design runtime: lines from the child are
  read with ``await channel.reader.readline()`` (:class:`LineReader`, bounded), replies are
  written without blocking (a child that stops reading cannot stall the parent).

Every fd handed to these classes is owned by them from then on and closed by :meth:`close`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import deque
from typing import Callable, Optional

_CHUNK = 1 << 16


def _read_chunk(fd: int) -> Optional[bytes]:
    """What a non-blocking ``fd`` has: data, ``b""`` at end of file (or a read error), None for nothing yet."""
    try:
        return os.read(fd, _CHUNK)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _close_fd(fd: Optional[int]) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


class OutputCollector:
    """Collect everything a child writes to ``fd`` (up to ``cap`` bytes) into :attr:`data`.

    ``on_done(collector)`` is called once, at end of file or when the cap is exceeded
    (:attr:`over` then True; the rest is not read: the child may block on the full pipe until it is
    killed).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, fd: int, cap: int, on_done: Callable[["OutputCollector"], None]
    ):
        self.loop = loop
        self.fd: Optional[int] = fd
        self.cap = cap
        self.data = bytearray()
        self.over = False
        self.done = False
        self._on_done = on_done
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._readable)

    def _readable(self) -> None:
        chunk = _read_chunk(self.fd)
        if chunk is None:
            return
        if chunk and len(self.data) + len(chunk) <= self.cap:
            self.data += chunk
            return
        if chunk:
            self.data += chunk[: self.cap - len(self.data)]
            self.over = True
        self._finish()

    def _finish(self) -> None:
        self.close()
        if not self.done:
            self.done = True
            self._on_done(self)

    def close(self) -> None:
        """Stop reading and close the fd (idempotent)."""
        if self.fd is not None:
            self.loop.remove_reader(self.fd)
            _close_fd(self.fd)
            self.fd = None

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class _Writer:
    """Non-blocking writes to ``fd``: what the pipe does not take now is sent when it is writable."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int):
        self.loop = loop
        self.fd: Optional[int] = fd
        self.pending = bytearray()
        self.broken = False
        self._close_when_flushed = False
        self._waiting = False
        os.set_blocking(fd, False)

    def write(self, data: bytes) -> None:
        if self.fd is None or self.broken:
            return
        if not self.pending:
            try:
                data = data[os.write(self.fd, data):]
            except BlockingIOError:
                pass
            except OSError:  # the child is gone (EPIPE) or closed its end
                self._break()
                return
        if data:
            self.pending += data
            if not self._waiting:
                self._waiting = True
                self.loop.add_writer(self.fd, self._writable)

    def _writable(self) -> None:
        try:
            del self.pending[: os.write(self.fd, self.pending)]
        except BlockingIOError:
            return
        except OSError:
            self._break()
            return
        if not self.pending:
            self.loop.remove_writer(self.fd)
            self._waiting = False
            if self._close_when_flushed:
                self.close()

    def _break(self) -> None:
        self.broken = True
        self.pending.clear()
        self.close()

    def close_when_flushed(self) -> None:
        if self.pending:
            self._close_when_flushed = True
        else:
            self.close()

    def close(self) -> None:
        if self.fd is not None:
            if self._waiting:
                self.loop.remove_writer(self.fd)
                self._waiting = False
            _close_fd(self.fd)
            self.fd = None


class InputFeeder:
    """Write ``data`` to a child's stdin ``fd`` and close it (the child then reads end of file)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fd: int, data: bytes):
        self._writer = _Writer(loop, fd)
        self._writer.write(data)
        self._writer.close_when_flushed()

    def close(self) -> None:
        self._writer.close()


class LineReader:
    """Lines received from a child, read with ``await readline()`` (the subset of
    :class:`asyncio.StreamReader` that ``serve`` coroutines use).

    ``readline`` returns one line with its ``\\n``, a final unterminated line at end of file, then
    ``b""``; it raises :class:`ValueError` once the child sent a line longer than ``limit``.
    Reading from the child pauses while more than ``limit`` bytes of complete lines wait unread
    (a child flooding the channel cannot make the parent buffer without bound).
    """

    def __init__(self, limit: int, pause: Callable[[], None], resume: Callable[[], None]):
        self.limit = limit
        self._lines: deque = deque()
        self._queued = 0
        self._partial = bytearray()
        self._eof = False
        self._error: Optional[Exception] = None
        self._waiter: Optional[asyncio.Future] = None
        self._pause, self._resume = pause, resume
        self._paused = False

    def feed(self, chunk: bytes) -> None:
        if self._error is not None:
            return
        data = self._partial
        data += chunk
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            if end - start >= self.limit:
                break
            self._lines.append(bytes(data[start : end + 1]))
            self._queued += end + 1 - start
            start = end + 1
        del data[:start]
        if len(data) >= self.limit:  # an over-long line, complete or not
            self._fail(ValueError(f"a channel line is longer than {self.limit} bytes"))
        if self._queued > self.limit and not self._paused:
            self._paused = True
            self._pause()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def _fail(self, error: Exception) -> None:
        """Stop taking data from the child; ``readline`` raises ``error`` after the queued lines."""
        if self._error is None:
            self._error = error
            self._partial = bytearray()
            if not self._paused:
                self._paused = True
                self._pause()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def readline(self) -> bytes:
        while not self._lines and not self._eof and self._error is None:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self._lines:
            line = self._lines.popleft()
            self._queued -= len(line)
            if self._paused and self._error is None and self._queued <= self.limit // 2:
                self._paused = False
                self._resume()
            return line
        if self._error is not None:
            raise self._error
        line, self._partial = bytes(self._partial), bytearray()
        return line


class Channel:
    """Line-delimited JSON with a child: ``reader`` yields its lines, :meth:`write` sends a reply.

    ``line_limit``: longest line accepted from the child (``reader.readline`` raises beyond it).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, read_fd: int, write_fd: int, line_limit: int):
        self.loop = loop
        self._read_fd: Optional[int] = read_fd
        self._reading = False
        self.reader = LineReader(line_limit, self._pause, self._resume)
        self._writer = _Writer(loop, write_fd)
        os.set_blocking(read_fd, False)
        self._resume()

    def _pause(self) -> None:
        if self._reading and self._read_fd is not None:
            self.loop.remove_reader(self._read_fd)
            self._reading = False

    def _resume(self) -> None:
        if not self._reading and self._read_fd is not None:
            self.loop.add_reader(self._read_fd, self._readable)
            self._reading = True

    def _readable(self) -> None:
        chunk = _read_chunk(self._read_fd)
        if chunk is None:
            return
        if chunk:
            self.reader.feed(chunk)
        else:
            self._stop_reading()
            self.reader.feed_eof()

    def write(self, message: dict) -> None:
        """Send one JSON line to the child (never blocks; dropped if the child is gone)."""
        self._writer.write((json.dumps(message) + "\n").encode())

    def _stop_reading(self) -> None:
        self._pause()
        if self._read_fd is not None:
            _close_fd(self._read_fd)
            self._read_fd = None

    def close(self) -> None:
        """Close both directions (idempotent)."""
        self._stop_reading()
        self._writer.close()
