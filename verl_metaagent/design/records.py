"""Records exchanged between a design's execution and the rollout (plain dataclasses)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

#: Execution statuses (the ``termination`` of executor rows).
STATUSES = ("finished", "invalid_design", "timeout", "budget_exceeded", "crash", "backend_error", "no_answer")


@dataclass
class AgentCallRequest:
    """One agent LLM call requested by a design: full chat ``messages`` for that agent."""

    agent: str
    messages: list[dict]
    call_index: int
    sampling: dict = field(default_factory=dict)


@dataclass
class AgentCallReply:
    """The policy's answer to an :class:`AgentCallRequest` (token fields become training rows)."""

    text: str
    prompt_ids: Optional[list[int]] = None
    response_ids: Optional[list[int]] = None
    logprobs: Optional[list[float]] = None
    finish_reason: Optional[str] = None
    num_tokens: Optional[int] = None  # prompt + response tokens when ids are unavailable (chat endpoints)


AgentCaller = Callable[[AgentCallRequest], Awaitable[AgentCallReply]]
TestRunner = Callable[[str, Any], Awaitable[dict]]


@dataclass
class AgentCallRecord:
    """A relayed call: the request, the reply (None if the caller failed) and the error text."""

    agent: str
    messages: list[dict]
    reply: Optional[AgentCallReply]
    error: Optional[str] = None


@dataclass
class DesignTask:
    """What a design sees of its task: the question, its type, and public tests (code tasks)."""

    question: str
    task_type: str = "math"
    public_tests: Any = None


@dataclass
class DesignLimits:
    """Per-execution budgets (see ``metaagent.rollout.budget``)."""

    max_agent_calls: int = 16
    max_total_tokens: int = 65536
    wall_seconds: float = 600.0
    cpu_seconds: float = 30.0
    memory_mb: int = 1024
    max_processes: int = 16
    max_output_bytes: int = 1 << 20


@dataclass
class ExecutionRecord:
    """Result of one execution: answer (only from ``finish``), status, reason, calls, timings."""

    final_answer: Optional[str]
    status: str
    reason: str
    calls: list[AgentCallRecord] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    stdout_tail: str = ""
