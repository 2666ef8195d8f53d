"""Design-runtime benchmarks (prints JSON; baselines measured in the same run).

Both sandbox modes are measured in one run: ``zygote`` (children forked from the warm
fork-server) and ``spawn`` (a fresh interpreter per execution), against

(a) per-execution overhead of the sandbox for a trivial design vs. the same script run with
    plain in-process ``exec`` against an in-process stub transport (target: median <= 30 ms);
(b) E executions x C sequential agent calls against a backend with fixed latency L:
    wall time / critical path (C x L) (target <= 1.3; median over ``--repeats`` fan-outs).

The zygote's one-off start-up (first execution of a process) is reported separately. Prints one
JSON object (keys: ``QUICK_KEYS``; per mode ``MODE_KEYS``).

    python benchmarks/bench_sandbox.py [--runs 20] [--executions 64] [--calls 8] [--latency 0.1]
                                       [--repeats 3] [--modes zygote,spawn]
    python benchmarks/bench_sandbox.py --quick    # 3 runs, 8 x 2 calls at 20 ms: a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verl_metaagent.design import AgentCallReply, DesignLimits, DesignTask, execute_design  # noqa: E402
from verl_metaagent.sandbox import active_protections  # noqa: E402

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


async def sandboxed(code: str, caller, limits: DesignLimits, mode: str) -> float:
    started = time.perf_counter()
    record = await execute_design(code, DesignTask("What is 2 + 3?"), caller, limits, sandbox_mode=mode)
    assert record.status == "finished", record.reason
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--executions", type=int, default=64)
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default="zygote,spawn")
    parser.add_argument("--quick", action="store_true",
                        help="a few seconds: checks the benchmark runs, measures little")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.executions, args.calls, args.latency, args.repeats = 3, 8, 2, 0.02, 1

    async def instant(request):
        return AgentCallReply(text="ok", prompt_ids=[1], response_ids=[2])

    async def slow(request):
        await asyncio.sleep(args.latency)
        return AgentCallReply(text="ok", prompt_ids=[1], response_ids=[2])

    limits = DesignLimits(wall_seconds=120, max_agent_calls=args.calls + 1)
    baseline = [in_process_exec(TRIVIAL) for _ in range(args.runs)]
    baseline_ms = statistics.median(baseline) * 1000
    critical = args.calls * args.latency

    async def fan_out(mode: str) -> float:
        code = sequential_calls(args.calls)
        started = time.perf_counter()
        await asyncio.gather(*(sandboxed(code, slow, limits, mode) for _ in range(args.executions)))
        return time.perf_counter() - started

    modes = {}
    for mode in args.modes.split(","):
        first_ms = asyncio.run(sandboxed(TRIVIAL, instant, limits, mode)) * 1000  # starts the zygote
        sandbox = [asyncio.run(sandboxed(TRIVIAL, instant, limits, mode)) for _ in range(args.runs)]
        overhead_ms = statistics.median(sandbox) * 1000 - baseline_ms
        walls = [asyncio.run(fan_out(mode)) for _ in range(args.repeats)]
        ratio = statistics.median(walls) / critical
        modes[mode] = {
            "first_execution_ms": first_ms,
            "overhead": {
                "runs": args.runs,
                "sandbox_median_ms": statistics.median(sandbox) * 1000,
                "median_overhead_ms": overhead_ms,
                "target_ms": 30,
                "pass": overhead_ms <= 30,
            },
            "concurrency": {
                "executions": args.executions,
                "calls_per_execution": args.calls,
                "latency_s": args.latency,
                "wall_s": walls,
                "critical_path_s": critical,
                "ratio": ratio,
                "target_ratio": 1.3,
                "pass": ratio <= 1.3,
            },
        }
    print(
        json.dumps(
            {
                "protections": active_protections(),
                "machine": {"cpus": os.cpu_count(), "loadavg_1m_before": load_before},
                "in_process_exec_median_ms": baseline_ms,
                "modes": modes,
            },
            indent=1,
        )
    )


#: The keys of the printed JSON object, and of each of its modes (tests/test_benchmarks_quick.py checks them).
QUICK_KEYS = ("protections", "machine", "in_process_exec_median_ms", "modes")
MODE_KEYS = ("first_execution_ms", "overhead", "concurrency")


if __name__ == "__main__":
    load_before = os.getloadavg()[0]
    main()
