"""The policy-client interface and its result record (no heavy imports)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Optional, Protocol, Sequence, runtime_checkable


@dataclass
class Completion:
    """One LLM answer to a chat request.

    Attributes:
        text: the decoded answer (reasoning blocks included; callers strip them when needed).
        messages: the chat messages that were sent.
        prompt_ids / response_ids / logprobs: token-level data, present for token clients only.
        stop_reason: ``"completed"``, ``"length"``, ... as the backend reported it.
        prompt_tokens / completion_tokens: token counts (from ids, or the endpoint's ``usage``).
    """

    text: str
    messages: list[dict]
    prompt_ids: Optional[list[int]] = None
    response_ids: Optional[list[int]] = None
    logprobs: Optional[list[float]] = None
    stop_reason: Optional[str] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@runtime_checkable
class PolicyClient(Protocol):
    """What the tree runner needs of an LLM.

    ``previous`` is this agent's previous :class:`Completion` in the same execution, so a token
    client can continue the model's own tokens for multi-turn agents; chat clients ignore it.
    ``sampling`` uses verl/vLLM names: ``temperature``, ``top_p``, ``top_k``, ``max_tokens``,
    ``seed``, ``logprobs``.
    """

    async def complete(
        self, request_id: str, messages: Sequence[dict], sampling: dict, *, previous: Optional[Completion] = None
    ) -> Completion: ...


@dataclass
class UsageTally:
    """Thread-safe running totals of a client's traffic (calls, tokens, retries, failures, cost)."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    failures: int = 0
    cost_usd: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, completion: Completion, cost_usd: float = 0.0) -> None:
        """Count one successful call."""
        with self._lock:
            self.calls += 1
            self.prompt_tokens += completion.prompt_tokens
            self.completion_tokens += completion.completion_tokens
            self.cost_usd += cost_usd

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def add_failure(self) -> None:
        with self._lock:
            self.failures += 1

    def as_dict(self) -> dict:
        """Plain totals (for logs, progress bars and result files)."""
        with self._lock:
            data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}
        data["total_tokens"] = self.prompt_tokens + self.completion_tokens
        return data
