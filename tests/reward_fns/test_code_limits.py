"""The code grader's own limits, each checked where only that limit can stop the program: the per-test
memory limit (below the sandbox's outer one) and the network (a listener this test opens on the host)."""

import json
import socket

import pytest

from reward_fns.code import CodeGradeConfig, run_tests
from reward_fns.code._executor import active_protections

TESTS = json.dumps({"inputs": ["1 2\n", "5 5\n"], "outputs": ["3", "10"]})
# 400 MB of address space: over a 256 MB per-test limit, under the sandbox's outer limit
# (memory_mb * (parallel + 1) + 256 = 768 MB); calloc'd, so without the limit it costs no real memory
BIG = "buf = bytearray(400 << 20)\na, b = map(int, input().split())\nprint(a + b)\n"


async def test_the_per_test_memory_limit_stops_a_test_below_the_outer_limit():
    res = await run_tests(BIG, TESTS, CodeGradeConfig(timeout=5.0, memory_mb=256, parallel=1))
    assert res["statuses"][0] == "memory" and res["passed"][0] is False and not res["all_passed"], res
    roomy = await run_tests(BIG, TESTS, CodeGradeConfig(timeout=5.0, memory_mb=1024, parallel=1))
    assert roomy["all_passed"] and roomy["statuses"] == ["ok", "ok"], roomy


@pytest.mark.skipif(not active_protections().get("network_namespace"), reason="network namespaces not permitted here")
async def test_a_graded_program_cannot_reach_a_listener_on_the_host():
    """The listener is on this host's loopback, so the test fails on any host where the program gets out
    (a public address would look blocked on every offline machine)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    code = (
        "import socket\n"
        "a, b = map(int, input().split())\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "    print(a + b)\n"
        "except OSError:\n"
        "    print('blocked')\n"
    )
    try:
        res = await run_tests(code, TESTS, CodeGradeConfig(timeout=5.0, memory_mb=256))
    finally:
        server.close()
    assert not res["all_passed"] and res["pass_rate"] == 0.0 and "wrong_answer" in res["statuses"], res
    # the same program, with a plain socket call it is allowed to make, passes: the test reads the network
    dial = f"socket.create_connection(('127.0.0.1', {port}), timeout=2).close()"
    allowed = code.replace(dial, "socket.socket().close()")
    assert (await run_tests(allowed, TESTS, CodeGradeConfig(timeout=5.0, memory_mb=256)))["all_passed"]
