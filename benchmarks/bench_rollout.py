"""Rollout throughput: our hierarchical rollout vs verl's stock single-turn agent loop (prints JSON).

Both sides run verl's real ``AgentLoopWorker`` machinery in this process against the same
:class:`~verl_metaagent.backends.ScriptedBackend` (tiny local tokenizer, a fixed ``--latency``
per LLM call), so the LLM cost is identical:

* **ours**: :class:`~verl_metaagent.rollout.worker.HierarchicalAgentLoopWorker` grows one
  M x N design-execute tree per problem (designer call, then each design executed N times in the
  sandbox, ``--calls`` sequential agent calls per execution, grading, training rows);
* **stock**: verl's ``AgentLoopWorker`` with its ``single_turn_agent`` loop makes *the same LLM
  calls with the same chat messages* (recorded from an untimed run of ours), one stock batch per
  level of our call-dependency depth (designer calls, then the 1st agent call of every
  execution, then the 2nd, ...), i.e. the same number of calls and of sequential LLM rounds.

``overhead_fraction = (wall_ours - wall_stock) / wall_ours`` is the share of our wall time spent
on what the stock loop does not do (sandboxed design execution, relay, tree bookkeeping, rows);
target <= 0.15. Walls are medians over ``--repeats``.

    python benchmarks/bench_rollout.py [--problems 4] [--designs 2] [--executions 4] [--calls 2]
                                       [--latency 1.0] [--repeats 3] [--sandbox-mode zygote]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import time

import numpy as np

import verl_metaagent

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(os.path.dirname(verl_metaagent.__file__), "config")
TARGET = 0.15


def design_text(calls: int) -> str:
    """A designer answer whose script makes ``calls`` sequential calls of one agent."""
    return (
        "<think>ask, then re-check</think><code>```python\n"
        "from verl_metaagent.design.api import *\n"
        "a = Agent('solver', 'Add the numbers.')\n"
        "x = a.ask()\n"
        f"for _ in range({calls - 1}):\n"
        "    x = a.ask('Check your answer and give it again.')\n"
        "finish(extract_answer(x))\n"
        "```</code>"
    )


def make_config(model_dir: str, args):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose(
            config_name="metaagent_trainer",
            overrides=[
                f"actor_rollout_ref.model.path={model_dir}",
                "actor_rollout_ref.rollout.prompt_length=1024",
                "actor_rollout_ref.rollout.response_length=128",
                "actor_rollout_ref.rollout.calculate_log_probs=True",
                "actor_rollout_ref.rollout.name=cpu",
                "actor_rollout_ref.rollout.agent.default_agent_loop=single_turn_agent",
                f"metaagent.rollout.num_designs={args.designs}",
                f"metaagent.rollout.num_executions={args.executions}",
                "metaagent.rollout.prompt_variant=short",
                f"metaagent.rollout.budget.max_agent_calls={args.calls + 1}",
                "metaagent.rollout.budget.wall_seconds=300",
                # every execution in flight at once, as the stock side runs every call of a round at once
                f"metaagent.rollout.max_concurrent_executions={args.problems * args.designs * args.executions}",
            ],
        )


def problem_batch(n: int):
    from verl.protocol import DataProto

    questions = [f"What is {i} + {i + 1}?" for i in range(n)]
    return DataProto.from_dict(
        non_tensors={
            "raw_prompt": np.array([[{"role": "user", "content": q}] for q in questions] + [None], dtype=object)[:n],
            "data_source": np.array(["math/demo"] * n, dtype=object),
            "reward_model": np.array([{"style": "rule", "ground_truth": str(2 * i + 1)} for i in range(n)],
                                     dtype=object),
            "extra_info": np.array([{"index": i} for i in range(n)], dtype=object),
            "uid": np.array([f"u{i}" for i in range(n)], dtype=object),
        },
        meta_info={"global_steps": 1, "validate": False},
    )


def message_batch(messages: list[list[dict]]):
    from verl.protocol import DataProto

    n = len(messages)
    return DataProto.from_dict(
        non_tensors={
            "raw_prompt": np.array(list(messages) + [None], dtype=object)[:n],
            "data_source": np.array(["math/demo"] * n, dtype=object),
            "uid": np.array([f"s{i}" for i in range(n)], dtype=object),
        },
        meta_info={"global_steps": 1, "validate": False},
    )


def record_calls(loop, worker, batch) -> list[tuple[str, list[dict]]]:
    """Run ours once (untimed) and return every LLM call as (request id, chat messages), in order."""
    from verl_metaagent.clients import token_client

    seen: list[tuple[str, list[dict]]] = []
    original = token_client.TokenPolicyClient.complete

    async def complete(self, request_id, messages, params, previous=None):
        seen.append((request_id, [dict(m) for m in messages]))
        return await original(self, request_id, messages, params, previous=previous)

    token_client.TokenPolicyClient.complete = complete
    try:
        loop.run_until_complete(worker.generate_sequences(batch))
    finally:
        token_client.TokenPolicyClient.complete = original
    return seen


def rounds_by_depth(calls: list[tuple[str, list[dict]]]) -> list[list[list[dict]]]:
    """Group calls by dependency depth: designer calls (depth 0), then the k-th call of each execution."""
    depth_of: dict[str, int] = {}
    rounds: dict[int, list[list[dict]]] = {}
    for request_id, messages in calls:
        parts = request_id.split("/")
        if len(parts) <= 2:  # "<uid>/d<j>": a designer call
            depth = 0
        else:  # "<uid>/d<j>/e<k>/<agent>": the next call of that execution
            execution = "/".join(parts[:3])
            depth = depth_of.get(execution, 0) + 1
            depth_of[execution] = depth
        rounds.setdefault(depth, []).append(messages)
    return [rounds[d] for d in sorted(rounds)]


#: keys of the printed JSON (tests/test_benchmarks_quick.py)
QUICK_KEYS = ("llm_calls", "executions", "wall_median_s", "overhead_fraction", "target", "pass")


def run() -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=4)
    parser.add_argument("--designs", type=int, default=2)
    parser.add_argument("--executions", type=int, default=4)
    parser.add_argument("--calls", type=int, default=2, help="sequential agent calls per execution")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per LLM call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sandbox-mode", default="zygote", choices=["zygote", "spawn"])
    parser.add_argument("--quick", action="store_true",
                        help="1 problem, 1 design x 2 executions, 0.05 s latency, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.problems, args.designs, args.executions, args.latency, args.repeats = 1, 1, 2, 0.05, 1
    os.environ["VERL_METAAGENT_SANDBOX_MODE"] = args.sandbox_mode
    load_before = os.getloadavg()[0]

    from transformers import AutoTokenizer
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker

    from verl_metaagent.backends.scripted import ScriptedBackend
    from verl_metaagent.rollout.worker import HierarchicalAgentLoopWorker
    from verl_metaagent.demo.tiny_model import build_tiny_model

    model_dir = build_tiny_model(os.path.join(ROOT, "tests", ".fixtures", "tiny_qwen3"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = make_config(model_dir, args)
    design = design_text(args.calls)

    def respond(prompt: str) -> str:
        return design if "Design Multi Agent System" in prompt else "\\boxed{42}"

    def backend() -> ScriptedBackend:
        return ScriptedBackend(tokenizer, respond, latency=args.latency)

    ours = HierarchicalAgentLoopWorker(config, backend())
    stock = AgentLoopWorker(config, backend())
    problems = problem_batch(args.problems)

    loop = asyncio.new_event_loop()  # one loop for the whole run, as in a Ray worker
    calls = record_calls(loop, ours, problems)  # also warms the sandbox's zygote and both workers' imports
    rounds = rounds_by_depth(calls)
    stock_batches = [message_batch(r) for r in rounds]
    loop.run_until_complete(stock.generate_sequences(message_batch(rounds[0][:1])))  # warm-up

    def run_ours() -> tuple[float, int, int]:
        ours.llm_client = backend()
        started = time.perf_counter()
        out = loop.run_until_complete(ours.generate_sequences(problem_batch(args.problems)))
        wall = time.perf_counter() - started
        roles, terminations = out.non_tensor_batch["role"], out.non_tensor_batch["termination"]
        finished = sum(r == "executor" and t == "finished" for r, t in zip(roles, terminations))
        return wall, len(ours.llm_client.calls), finished

    async def stock_rounds() -> None:
        for batch in stock_batches:  # one dependent LLM round per batch
            await stock.generate_sequences(batch)

    def run_stock() -> tuple[float, int]:
        stock.llm_client = backend()
        started = time.perf_counter()
        loop.run_until_complete(stock_rounds())
        return time.perf_counter() - started, len(stock.llm_client.calls)

    ours_walls, stock_walls = [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit both sides alike
        wall, n_ours, finished = run_ours()
        ours_walls.append(wall)
        wall, n_stock = run_stock()
        stock_walls.append(wall)
    loop.close()
    wall_ours, wall_stock = statistics.median(ours_walls), statistics.median(stock_walls)
    overhead = (wall_ours - wall_stock) / wall_ours
    executions = args.problems * args.designs * args.executions
    return {
        "setup": {
            "problems": args.problems,
            "designs_per_problem": args.designs,
            "executions_per_design": args.executions,
            "calls_per_execution": args.calls,
            "latency_s": args.latency,
            "sandbox_mode": args.sandbox_mode,
            "cpus": os.cpu_count(),
            "loadavg_1m_before": load_before,
        },
        "llm_calls": {"ours": n_ours, "stock": n_stock, "sequential_rounds": len(rounds)},
        "executions": executions,
        "finished_executor_rows": int(finished),
        "llm_critical_path_s": len(rounds) * args.latency,
        "wall_s": {"ours": ours_walls, "stock": stock_walls},
        "wall_median_s": {"ours": wall_ours, "stock": wall_stock},
        "overhead_fraction": overhead,
        "target": TARGET,
        "pass": overhead <= TARGET and n_ours == n_stock,
    }


def main() -> None:
    """Run the benchmark; the JSON result is the only thing on stdout (verl's chatter goes to stderr)."""
    with contextlib.redirect_stdout(sys.stderr):
        result = run()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
