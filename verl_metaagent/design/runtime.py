"""Execute a design script in the sandbox and relay its agent calls to the parent.

The script runs in a sandboxed child (:mod:`verl_metaagent.sandbox`): scrubbed env, throw-away
work dir, rlimits, private network namespace and unprivileged uid where available. Its only
way out is :mod:`._transport` (JSON lines over two pipes). The parent answers

* ``ask``       -> the async ``agent_caller`` (the policy via verl's server manager),
* ``run_tests`` -> the async ``test_runner`` (reward_fns' code runner, in its own sandbox),
* ``final``     -> records the final answer (the ONLY source of the answer; stdout is ignored),

enforcing the call/token budgets. Many executions share one event loop, so N x M executions
of a batch wait for the LLM concurrently.
"""

from __future__ import annotations

import json
import os
import pkgutil
import time
from typing import Any, Optional

from verl_metaagent.design.records import (
    AgentCaller,
    AgentCallRecord,
    AgentCallRequest,
    DesignLimits,
    DesignTask,
    ExecutionRecord,
    TestRunner,
)
from verl_metaagent.design.validate import ALLOWED_MODULES, validate_design
from verl_metaagent.design.workflow.release_imports import EXIT_MARK as _EXIT_MARK
from verl_metaagent.sandbox import CHANNEL_FDS, SandboxAbort, SandboxLimits, SandboxResult, run_in_sandbox
from verl_metaagent.sandbox.hostdirs import memory_work_root

#: Longest final answer kept (characters); longer answers are truncated.
MAX_ANSWER_CHARS = 200_000
#: Longest agent name / message content accepted from a script.
MAX_AGENT_NAME = 100
MAX_MESSAGE_CHARS = 400_000
_ROLES = ("system", "user", "assistant")

# What a design child imports before its program runs (also the warm-up of the design runtime's
# zygote): the modules a design may import, the design API and the dialect -- and nothing else.
# The sandbox enters ``verl_metaagent`` through a bare package module (its ``__init__`` installs an
# import hook that pulls in logging and threading, whose at-fork handlers cost every forked child a
# hundred-odd copy-on-write page faults), and the project root never goes on the script's path.
# Every module of the dialect package is preloaded: ``workflow.install_alias`` runs in the program,
# after the drop, where the plugin's files are out of reach.
_WORKFLOW_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workflow")
_DESIGN_PRELOAD = (
    tuple(sorted(ALLOWED_MODULES - {"__future__", "workflow"}))
    + ("verl_metaagent.design.api", "verl_metaagent.design._transport")
    + tuple(f"verl_metaagent.design.workflow.{m.name}"
            for m in sorted(pkgutil.iter_modules([_WORKFLOW_DIR]), key=lambda m: m.name))
    + ("verl_metaagent.design._sandbox_main",)
)
# The child's program, run by the sandbox after its privilege drop: connect the channel, run the script.
_DESIGN_PROGRAM = "from verl_metaagent.design._sandbox_main import main\nmain()\n"


def _valid_messages(messages: Any) -> Optional[list[dict]]:
    if not isinstance(messages, list) or not messages:
        return None
    clean = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
            return None
        if len(m["content"]) > MAX_MESSAGE_CHARS:
            return None
        clean.append({"role": m["role"], "content": m["content"]})
    return clean


class _Relay:
    """Parent side of one execution's channel: answers requests, enforces budgets, records calls."""

    def __init__(self, agent_caller: AgentCaller, test_runner: Optional[TestRunner], limits: DesignLimits):
        self.agent_caller = agent_caller
        self.test_runner = test_runner
        self.limits = limits
        self.calls: list[AgentCallRecord] = []
        self.final_answer: Optional[str] = None
        self.tokens = 0
        self.llm_seconds = 0.0

    async def serve(self, reader, write) -> None:
        while True:
            try:
                line = await reader.readline()
            except (ValueError, OSError) as exc:  # over the line limit
                raise SandboxAbort("crash", f"channel message too large or unreadable: {exc}") from None
            if not line:
                return
            try:
                message = json.loads(line)
                op, payload = message["op"], message.get("payload") or {}
                if not isinstance(payload, dict):
                    raise TypeError("payload must be an object")
            except (ValueError, KeyError, TypeError) as exc:
                raise SandboxAbort("crash", f"malformed channel message: {exc}") from None
            if op == "ask":
                await self._ask(payload, write)
            elif op == "run_tests":
                await self._run_tests(payload, write)
            elif op == "final":
                answer = payload.get("answer")
                self.final_answer = ("" if answer is None else str(answer))[:MAX_ANSWER_CHARS]
                write({"result": {}})
            else:
                write({"error": f"unknown op {op!r}; allowed: ask, run_tests, final"})

    async def _ask(self, payload: dict, write) -> None:
        agent = payload.get("agent")
        messages = _valid_messages(payload.get("messages"))
        if not isinstance(agent, str) or not agent or len(agent) > MAX_AGENT_NAME or messages is None:
            write({"error": "ask needs an agent name (str) and chat messages [{role, content}]"})
            return
        if len(self.calls) >= self.limits.max_agent_calls:
            write({"fatal": True, "error": "agent call budget exceeded"})
            raise SandboxAbort("budget_exceeded", f"more than {self.limits.max_agent_calls} agent calls")
        request = AgentCallRequest(agent=agent, messages=messages, call_index=len(self.calls))
        started = time.monotonic()
        try:
            reply = await self.agent_caller(request)
        except Exception as exc:  # the LLM backend failed: end this execution, keep the batch going
            self.calls.append(AgentCallRecord(agent, messages, None, f"{type(exc).__name__}: {exc}"))
            write({"fatal": True, "error": "LLM backend error"})
            raise SandboxAbort("backend_error",
                               f"agent call {request.call_index} failed: {type(exc).__name__}: {exc}") from None
        finally:
            self.llm_seconds += time.monotonic() - started
        self.calls.append(AgentCallRecord(agent, messages, reply))
        if reply.prompt_ids is None and reply.response_ids is None and reply.num_tokens is not None:
            self.tokens += int(reply.num_tokens)  # chat endpoints report counts, not ids
        else:
            self.tokens += len(reply.prompt_ids or []) + len(reply.response_ids or [])
        if self.tokens > self.limits.max_total_tokens:
            write({"fatal": True, "error": "token budget exceeded"})
            raise SandboxAbort("budget_exceeded", f"more than {self.limits.max_total_tokens} tokens")
        write({"result": {"text": reply.text}})

    async def _run_tests(self, payload: dict, write) -> None:
        if self.test_runner is None:
            write({"error": "run_tests is not available for this task"})
            return
        code, tests = payload.get("code"), payload.get("tests", "public")
        if not isinstance(code, str):
            write({"error": "run_tests needs the program as a string"})
            return
        try:
            result = await self.test_runner(code, tests)
        except Exception as exc:
            write({"error": f"test run failed: {type(exc).__name__}: {exc}"})
            return
        write({"result": result})


def _no_answer_reason(result: SandboxResult) -> str:
    """Why a script that ended normally has no answer (names a ``sys.exit(code)`` and its last output)."""
    exits = [line[len(_EXIT_MARK):] for line in result.stderr.splitlines() if line.startswith(_EXIT_MARK)]
    if not exits:
        return "the script ended without calling finish() / workflow.run()"
    printed = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return f"the script called sys.exit{exits[-1]} before any answer" + (
        f"; its last output: {printed[-1][:300]}" if printed else "")


def _crash_reason(result: SandboxResult) -> str:
    """The last line of the script's stderr (its exception), else how the sandbox saw it end."""
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else result.detail.get("reason") or "the script exited with an error"


async def execute_design(
    code: str,
    task: DesignTask,
    agent_caller: AgentCaller,
    limits: DesignLimits = DesignLimits(),
    test_runner: Optional[TestRunner] = None,
    *,
    sandbox_mode: Optional[str] = None,
) -> ExecutionRecord:
    """Run design ``code`` for ``task`` in a sandboxed child; relay its calls; return the record.

    Never raises for anything the script does: syntax errors, forbidden imports, crashes,
    timeouts, budget overruns and backend failures all end in a record with a status and reason.
    ``sandbox_mode``: ``"zygote"`` (fork from a warm server that has imported the design API),
    ``"spawn"`` (fresh interpreter) or ``None`` = ``$VERL_METAAGENT_SANDBOX_MODE`` / ``zygote``.
    """

    started = time.monotonic()
    problems = validate_design(code)
    if problems:
        return ExecutionRecord(None, "invalid_design", "; ".join(problems), timings={"wall_seconds": 0.0})
    relay = _Relay(agent_caller, test_runner, limits)
    task_json = json.dumps({"question": task.question, "task_type": task.task_type, "public_tests": task.public_tests})
    result = await run_in_sandbox(
        _DESIGN_PROGRAM,
        argv=[str(fd) for fd in CHANNEL_FDS],
        limits=SandboxLimits(
            wall_seconds=limits.wall_seconds,
            cpu_seconds=limits.cpu_seconds,
            memory_mb=limits.memory_mb,
            max_processes=limits.max_processes,
            max_output_bytes=limits.max_output_bytes,
        ),
        files={"task.json": task_json, "design.py": code},
        serve=relay.serve,
        mode=sandbox_mode,
        work_root=memory_work_root(),  # designs cannot write files (validator): RAM-backed work dirs are safe
        preload=_DESIGN_PRELOAD,
        program_name="<design runtime>",
    )
    if (result.status in ("budget_exceeded", "backend_error")
            or (result.status == "crash" and "reason" in result.detail)):
        status, reason = result.status, result.detail.get("reason", "")
    elif relay.final_answer is not None:
        status = "finished"
        reason = "" if result.status == "ok" else f"answered, then {result.status}: {_crash_reason(result)}"
    elif result.status == "timeout":
        ended = result.detail.get("reason") or "time limit"
        status, reason = "timeout", (f"no answer within {limits.wall_seconds:g} s wall / "
                                     f"{limits.cpu_seconds:g} s CPU ({ended})")
    elif result.status == "ok":
        status, reason = "no_answer", _no_answer_reason(result)
    elif result.status == "output_limit":
        status, reason = "crash", f"output over {limits.max_output_bytes} bytes"
    else:
        status, reason = "crash", _crash_reason(result)
    return ExecutionRecord(
        final_answer=relay.final_answer if status == "finished" else None,
        status=status,
        reason=reason,
        calls=relay.calls,
        timings={"wall_seconds": time.monotonic() - started, "llm_seconds": relay.llm_seconds},
        stdout_tail=result.stdout[-2000:],
    )
