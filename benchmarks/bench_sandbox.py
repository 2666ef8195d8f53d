"""Design-runtime benchmarks (prints JSON; baselines measured in the same run).

(a) per-execution overhead of the sandbox for a trivial design vs. the same script run with
    plain in-process ``exec`` against an in-process stub transport (target: median <= 30 ms);
(b) E executions x C sequential agent calls against a backend with fixed latency L:
    wall time / critical path (C x L) (target <= 1.3).

    python benchmarks/bench_sandbox.py [--runs 20] [--executions 64] [--calls 8] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

from verl_metaagent.design import AgentCallReply, DesignLimits, DesignTask, execute_design
from verl_metaagent.sandbox import active_protections

TRIVIAL = "from verl_metaagent.design.api import *\nfinish(str(len(question)))\n"


def sequential_calls(n: int) -> str:
    return (
        "from verl_metaagent.design.api import *\n"
        "a = Agent('solver', 'Think.')\n"
        f"for _ in range({n}):\n    x = a.ask('again')\n"
        "finish(x)\n"
    )


def in_process_exec(code: str) -> float:
    """Baseline: the same script with plain exec and a stub transport in this process."""
    from verl_metaagent.design import _transport, api

    original = _transport.request
    _transport.request = lambda op, payload: {"text": "ok"} if op == "ask" else {}
    try:
        api.configure(question="What is 2 + 3?")
        started = time.perf_counter()
        try:
            exec(compile(code, "design.py", "exec"), api.script_globals())
        except SystemExit:
            pass
        return time.perf_counter() - started
    finally:
        _transport.request = original


async def sandboxed(code: str, caller, limits: DesignLimits) -> float:
    started = time.perf_counter()
    record = await execute_design(code, DesignTask("What is 2 + 3?"), caller, limits)
    assert record.status == "finished", record.reason
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--executions", type=int, default=64)
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1)
    args = parser.parse_args()

    async def instant(request):
        return AgentCallReply(text="ok", prompt_ids=[1], response_ids=[2])

    async def slow(request):
        await asyncio.sleep(args.latency)
        return AgentCallReply(text="ok", prompt_ids=[1], response_ids=[2])

    limits = DesignLimits(wall_seconds=120, max_agent_calls=args.calls + 1)
    baseline = [in_process_exec(TRIVIAL) for _ in range(args.runs)]
    sandbox = [asyncio.run(sandboxed(TRIVIAL, instant, limits)) for _ in range(args.runs)]
    overhead_ms = (statistics.median(sandbox) - statistics.median(baseline)) * 1000

    async def fan_out() -> float:
        code = sequential_calls(args.calls)
        started = time.perf_counter()
        await asyncio.gather(*(sandboxed(code, slow, limits) for _ in range(args.executions)))
        return time.perf_counter() - started

    wall = asyncio.run(fan_out())
    critical = args.calls * args.latency
    print(
        json.dumps(
            {
                "protections": active_protections(),
                "overhead": {
                    "runs": args.runs,
                    "in_process_exec_median_ms": statistics.median(baseline) * 1000,
                    "sandbox_median_ms": statistics.median(sandbox) * 1000,
                    "median_overhead_ms": overhead_ms,
                    "target_ms": 30,
                },
                "concurrency": {
                    "executions": args.executions,
                    "calls_per_execution": args.calls,
                    "latency_s": args.latency,
                    "wall_s": wall,
                    "critical_path_s": critical,
                    "ratio": wall / critical,
                    "target_ratio": 1.3,
                },
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
