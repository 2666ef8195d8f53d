"""The parent's side of a child's pipes: bounded line reading, writes that never block the loop."""

import asyncio
import json
import os
import threading

import pytest

from metaagent_sandbox import CHANNEL_FDS, SandboxAbort, SandboxLimits, run_in_sandbox
from metaagent_sandbox.child_io import Channel, LineReader

CHANNEL_ARGV = [str(fd) for fd in CHANNEL_FDS]
LIM = SandboxLimits(wall_seconds=20, cpu_seconds=10, memory_mb=256, max_processes=8, max_output_bytes=1 << 16)


@pytest.fixture
def sandbox_mode():
    """Pure event-loop tests: one run each (overrides the both-modes fixture where not needed)."""
    return None


def _reader(limit=10):
    calls = []
    return LineReader(limit, lambda: calls.append("pause"), lambda: calls.append("resume")), calls


def test_lines_are_reassembled_across_chunks_and_the_tail_comes_at_eof():
    async def main():
        reader, _ = _reader(limit=100)
        for chunk in (b"ab", b"c\nde", b"f\n\ng", b"h"):
            reader.feed(chunk)
        reader.feed_eof()
        return [await reader.readline() for _ in range(5)]

    assert asyncio.run(main()) == [b"abc\n", b"def\n", b"\n", b"gh", b""]


def test_an_over_long_line_fails_after_the_lines_before_it_and_stops_reading():
    async def main():
        reader, calls = _reader(limit=10)
        reader.feed(b"ok\n" + b"x" * 50)
        first = await reader.readline()
        with pytest.raises(ValueError, match="longer than 10 bytes"):
            await reader.readline()
        reader.feed(b"more\n")  # ignored once failed
        with pytest.raises(ValueError):
            await reader.readline()
        return first, calls

    first, calls = asyncio.run(main())
    assert first == b"ok\n" and calls == ["pause"]


def test_a_flood_of_lines_pauses_reading_until_they_are_consumed():
    async def main():
        reader, calls = _reader(limit=10)
        reader.feed(b"a\n" * 8)  # 16 bytes queued > limit
        paused = list(calls)
        for _ in range(6):
            await reader.readline()  # 4 bytes left: at most half the limit -> read again
        return paused, calls

    paused, calls = asyncio.run(main())
    assert paused == ["pause"] and calls == ["pause", "resume"]


def test_a_reply_bigger_than_the_pipe_never_blocks_the_loop():
    async def main():
        loop = asyncio.get_running_loop()
        from_child_r, from_child_w = os.pipe()
        to_child_r, to_child_w = os.pipe()
        channel = Channel(loop, from_child_r, to_child_w, line_limit=1 << 20)
        channel.write({"text": "y" * 300_000})  # a pipe holds 64 KiB: the rest must wait, not block
        ticks = 0
        received = bytearray()
        os.set_blocking(to_child_r, False)
        while not received.endswith(b"\n"):
            ticks += 1
            await asyncio.sleep(0)
            try:
                received += os.read(to_child_r, 1 << 16)
            except BlockingIOError:
                pass
        channel.close()
        for fd in (from_child_w, to_child_r):
            os.close(fd)
        return ticks, json.loads(received)

    ticks, message = asyncio.run(main())
    assert message == {"text": "y" * 300_000} and ticks > 1


# A child that sends one request, then waits for a go-file the parent creates only after its
# (1 MB) reply was handed to the channel, and only then reads the reply: a blocking write would
# deadlock the parent's event loop.
_SLOW_READER = r"""
import json, os, sys, time
read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
os.write(write_fd, (json.dumps({"cwd": os.getcwd()}) + "\n").encode())
while not os.path.exists("go"):
    time.sleep(0.01)
data = b""
while not data.endswith(b"\n"):
    data += os.read(read_fd, 1 << 16)
print(len(json.loads(data)["text"]))
"""

_FLOODER = r"""
import os, sys, time
read_fd, write_fd = int(sys.argv[1]), int(sys.argv[2])
chunk = b"z" * (1 << 16)
try:
    while True:
        os.write(write_fd, chunk)  # never a newline
except OSError:
    pass
time.sleep(60)
"""


@pytest.mark.parametrize("mode", ["zygote", "spawn"])
def test_a_child_that_reads_its_reply_late_does_not_stall_the_parent(mode):
    async def serve(reader, write):
        request = json.loads(await reader.readline())
        write({"text": "r" * 1_000_000})
        open(os.path.join(request["cwd"], "go"), "w").close()  # reached only if write returned
        assert await reader.readline() == b""

    box = {}
    worker = threading.Thread(
        target=lambda: box.update(
            r=asyncio.run(run_in_sandbox(_SLOW_READER, argv=CHANNEL_ARGV, limits=LIM, serve=serve, mode=mode))
        ),
        daemon=True,
    )
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the parent's event loop blocked on the child's full pipe"
    r = box["r"]
    assert (r.status, r.stdout, r.detail["mode"]) == ("ok", "1000000\n", mode), r.stderr


@pytest.mark.parametrize("mode", ["zygote", "spawn"])
def test_a_channel_flood_without_newlines_ends_the_run(mode):
    async def serve(reader, write):
        try:
            await reader.readline()
        except ValueError as exc:
            raise SandboxAbort("crash", f"channel: {exc}") from None

    r = asyncio.run(run_in_sandbox(_FLOODER, argv=CHANNEL_ARGV, limits=LIM, serve=serve, mode=mode))
    assert r.status == "crash" and "longer than" in r.detail["reason"]
