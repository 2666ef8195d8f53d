"""How an evaluation run samples and budgets its systems (one validated dataclass)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional

from verl_metaagent.rollout.config import BudgetConfig

__all__ = ["EvalSettings", "RESUME_KEYS"]

#: Settings that must not change between a run and its resumption (they change every number).
RESUME_KEYS = (
    "temperature", "top_p", "max_tokens", "sc_k", "sc_temperature", "num_designs", "num_executions", "select",
    "prompt_variant", "seed", "budget", "model",
)


@dataclass
class EvalSettings:
    """Sampling, tree shape and budgets of an evaluation run.

    Attributes:
        samples: independent attempts per problem and system (``k`` of avg@k); attempt ``s`` uses
            its own seeds. With ``samples > 1`` sampling must be on (``temperature > 0``).
        temperature / top_p: sampling of every system's calls, the designer's included (0 = greedy,
            the paper's pass@1; :func:`verl_metaagent.solve.solve` samples both roles alike).
        max_tokens: generation cap of every LLM call.
        sc_k: CoT self-consistency votes per problem; ``None`` = matched per benchmark to
            MetaAgent-X's measured mean LLM calls per problem (:func:`~.systems.matched_sc_k`).
        sc_temperature: sampling temperature of the self-consistency votes (must be > 0).
        num_designs / num_executions / select: the MetaAgent-X tree at test time (paper: 1 x 1).
        prompt_variant: designer prompt, ``full`` (API spec + few-shot) or ``short`` (the release's
            one-line prompt; use it for the public MetaAgent-X checkpoint).
        budget: per-execution limits (agent calls, tokens, wall/CPU seconds, memory).
        seed: base seed of every call's seed.
        concurrency: attempts in flight at once (the client has its own request limit).
        max_errors: stop the run after this many failed attempts (endpoint down, ...).
        model: free-text name of what is evaluated (stored with the run, checked on resume).
    """

    samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 4096
    sc_k: Optional[int] = None
    sc_temperature: float = 0.7
    num_designs: int = 1
    num_executions: int = 1
    select: str = "first"
    prompt_variant: str = "full"
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    seed: int = 0
    concurrency: int = 8
    max_errors: int = 20
    model: str = ""

    def validate(self) -> "EvalSettings":
        """Check every field; raises ``ValueError`` naming the CLI flag and the fix."""
        checks = [
            (self.samples >= 1, f"--samples must be >= 1, got {self.samples}"),
            (self.temperature >= 0, f"--temperature must be >= 0, got {self.temperature}"),
            (0 < self.top_p <= 1, f"--top-p must be in (0, 1], got {self.top_p}"),
            (self.max_tokens >= 1, f"--max-tokens must be >= 1, got {self.max_tokens}"),
            (self.sc_k is None or self.sc_k >= 1,
             f"--sc-k must be >= 1 (or omitted to match MetaAgent-X's calls), got {self.sc_k}"),
            (self.sc_temperature > 0,
             f"--sc-temperature must be > 0 (identical greedy votes are one vote), got {self.sc_temperature}"),
            (self.num_designs >= 1 and self.num_executions >= 1, "--designs and --executions must be >= 1"),
            (self.select in ("first", "majority"), f"--select must be first or majority, got {self.select!r}"),
            (self.prompt_variant in ("full", "short"),
             f"--prompt-variant must be full or short, got {self.prompt_variant!r}"),
            (self.concurrency >= 1, f"--concurrency must be >= 1, got {self.concurrency}"),
            (self.max_errors >= 1, f"--max-errors must be >= 1, got {self.max_errors}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.samples > 1 and self.temperature == 0:
            raise ValueError(
                f"--samples {self.samples} with greedy decoding gives {self.samples} identical attempts; "
                "set --temperature (e.g. 0.6) or use --samples 1 (pass@1)"
            )
        self.budget.validate("--budget")
        return self

    def as_dict(self) -> dict:
        """JSON-ready settings (stored as ``settings.json`` next to the records)."""
        return asdict(self)
