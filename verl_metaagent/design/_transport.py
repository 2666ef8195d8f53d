"""Child side of the relay: a design's only way to reach its parent.

JSON lines over two inherited pipe fds (set by the runtime's boot code with :func:`connect`).
Nothing here is trusted by the parent: it validates and size-caps every message.
"""

from __future__ import annotations

import json
import os
from typing import Optional


class TransportError(Exception):
    """The parent answered a request with an error the script may handle (e.g. a failed test run)."""


class DesignAborted(BaseException):
    """The parent ended the execution (budget exceeded, backend failure): not catchable by ``except Exception``."""


_channel: Optional[tuple[int, int]] = None
_buffer = b""


def connect(read_fd: int, write_fd: int) -> None:
    """Attach to the parent's pipes (called once by the runtime's boot code)."""
    global _channel, _buffer
    _channel = (int(read_fd), int(write_fd))
    _buffer = b""


def _read_line(fd: int) -> bytes:
    global _buffer
    while b"\n" not in _buffer:
        chunk = os.read(fd, 65536)
        if not chunk:
            raise DesignAborted("the parent closed the channel")
        _buffer += chunk
    line, _, _buffer = _buffer.partition(b"\n")
    return line


def request(op: str, payload: dict) -> dict:
    """Send ``{op, payload}`` to the parent and block for its reply.

    Raises:
        DesignAborted: the parent ended this execution (budget, backend error).
        TransportError: the parent rejected this request; the script may go on.
    """
    if _channel is None:
        raise DesignAborted("no parent channel: design scripts run only inside the design runtime")
    read_fd, write_fd = _channel
    data = (json.dumps({"op": op, "payload": payload}) + "\n").encode()
    view = memoryview(data)
    while view:
        written = os.write(write_fd, view)
        view = view[written:]
    reply = json.loads(_read_line(read_fd))
    if reply.get("fatal"):
        raise DesignAborted(str(reply.get("error", "aborted")))
    if "error" in reply:
        raise TransportError(str(reply["error"]))
    return reply.get("result", {})
