"""The ``metaagent.rollout`` config group: shape of the design-execute tree and its budgets.

Every field can be overridden from the command line, e.g.
``metaagent.rollout.num_designs=8 metaagent.rollout.num_executions=1`` (the paper's M=8/N=1
ablation). :func:`load_rollout_config` validates the group at start-up and names the key and
the fix for every bad value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from verl_metaagent.utils.config_utils import require, section_loader

PromptVariant = Literal["full", "short"]
ValidationSelect = Literal["first", "majority"]


@dataclass
class SamplingConfig:
    """Sampling params for one role's LLM calls (our names; :mod:`verl_metaagent.clients.engine_params` maps them
    per engine).

    Attributes:
        temperature: 0 means greedy. The executor samples on-policy during training.
        top_p: nucleus sampling mass.
        top_k: -1 disables top-k.
        max_tokens: cap on generated tokens per call; ``None`` = ``actor_rollout_ref.rollout.response_length``.
        repetition_penalty: > 1 discourages repeats (the release's designer uses 1.1); ``None`` = not
            sent (the engine's default / verl's ``rollout.repetition_penalty`` applies).
        stop: strings that end a call's answer (not included in it); ``None`` = none.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: Optional[int] = None
    repetition_penalty: Optional[float] = None
    stop: Optional[list[str]] = None

    def validate(self, path: str) -> None:
        require(self.temperature >= 0, f"{path}.temperature", f"must be >= 0, got {self.temperature}",
                f"set {path}.temperature=1.0")
        require(0 < self.top_p <= 1, f"{path}.top_p", f"must be in (0, 1], got {self.top_p}", f"set {path}.top_p=1.0")
        require(self.top_k == -1 or self.top_k > 0, f"{path}.top_k", f"must be -1 or > 0, got {self.top_k}",
                f"set {path}.top_k=-1")
        require(
            self.max_tokens is None or self.max_tokens > 0,
            f"{path}.max_tokens",
            f"must be > 0 or null, got {self.max_tokens}",
            f"set {path}.max_tokens=null to use rollout.response_length",
        )
        require(
            self.repetition_penalty is None or self.repetition_penalty > 0,
            f"{path}.repetition_penalty",
            f"must be > 0 or null, got {self.repetition_penalty}",
            f"set {path}.repetition_penalty=1.0 (no penalty) or null",
        )
        require(
            self.stop is None or (not isinstance(self.stop, str) and all(isinstance(s, str) and s for s in self.stop)),
            f"{path}.stop",
            f"must be a list of non-empty strings or null, got {self.stop!r}",
            f"set {path}.stop='[\"</answer>\"]' or null",
        )


@dataclass
class BudgetConfig:
    """Per-execution limits. An execution that exceeds one ends with status ``budget_exceeded`` or ``timeout``.

    Attributes:
        max_agent_calls: LLM calls one execution may make.
        max_total_tokens: prompt + response tokens summed over one execution's calls; ``None`` (default,
            as the release) = no token cap.
        wall_seconds: wall-clock limit of one execution (release: 1200 s + 60 s slack). Time spent
            waiting for LLM replies counts towards it, but a timeout whose wall clock went mostly to
            waiting is an infrastructure fault, not the design's (``rollout/faults.py``): not trained on.
        cpu_seconds: CPU-time limit of the sandboxed script itself.
        memory_mb: address-space limit of the sandboxed script.
    """

    max_agent_calls: int = 16
    max_total_tokens: Optional[int] = None
    wall_seconds: float = 1260.0
    cpu_seconds: float = 30.0
    memory_mb: int = 1024

    def validate(self, path: str) -> None:
        for name in ("max_agent_calls", "max_total_tokens", "wall_seconds", "cpu_seconds", "memory_mb"):
            value = getattr(self, name)
            if value is None and name == "max_total_tokens":
                continue
            require(value > 0, f"{path}.{name}", f"must be > 0, got {value}", f"set {path}.{name} to a positive value")


@dataclass
class FormatRewardConfig:
    """Rewards that do not come from grading a final answer.

    Attributes:
        invalid_design: reward of every execution of a design that could not be parsed/validated
            (so the design's reward, the mean, is this value); it still counts in its advantage group.
        no_answer: reward of an execution that ended without a final answer (crash, timeout, budget).
        valid_design_bonus: optional term added to a *designer* row's reward when its design is valid.
    """

    invalid_design: float = 0.0
    no_answer: float = 0.0
    valid_design_bonus: float = 0.0


@dataclass
class ValidationRolloutConfig:
    """Validation/eval mode: design once, execute once (or best-of-M by majority of final answers).

    Attributes:
        num_designs: designs per problem at validation.
        num_executions: executions per design at validation.
        select: ``first`` grades the first valid design's execution; ``majority`` votes over all final answers.
    """

    num_designs: int = 1
    num_executions: int = 1
    select: ValidationSelect = "first"


@dataclass
class RolloutTreeConfig:
    """``metaagent.rollout``: the M x N design-execute tree.

    Attributes:
        num_designs: M, designs sampled per problem (paper 4; ablation 8).
        num_executions: N, executions per valid design (paper 4; ablation 1).
        prompt_variant: ``full`` (task + API spec + few-shot designs; base models, cold-start data) or
            ``short`` (task only; models after cold-start SFT).
        max_concurrent_executions: executions in flight per rollout worker (each is one sandboxed child).
        designer_sampling / executor_sampling: each role's sampling params (executor on-policy by default).
        budget: per-execution limits.
        format_reward: rewards not derived from grading.
        max_executor_rows_per_execution: cap on training rows one execution contributes (0 = no cap);
            calls beyond it are still answered, their rows are dropped (and counted in metrics).
        merge_multi_turn: an agent asked several times becomes one training row whose response mask
            covers only the model's tokens (verl's multi-turn convention) when its token history allows.
        seed: base seed; every LLM call's seed is derived from (seed, step, problem, design, execution, call).
        validation: validation-mode tree.
        truncated_sampling: what to do with per-role sampling that the actor's log-prob pass does not
            model (``top_p < 1``, ``top_k > 0``, ``repetition_penalty != 1``): ``accept`` (the release's
            designer sampling, top-p 0.9 / top-k 20 / penalty 1.1; PPO's ratios are then taken against the
            untruncated policy, as verl does with ``rollout.top_p < 1``) or ``reject`` (fail at start).
            Role temperatures must always equal ``actor_rollout_ref.rollout.temperature``.
        train_code_reward: how code answers are scored in *training* rollouts: ``pass_rate`` (fraction of
            the tests passed; the release's training reward) or ``all_pass``. Validation always counts
            only full passes. A dataset row's own ``extra_info.code_grading.score`` wins.
        max_infra_fault_share: a training step fails loudly when more than this share of its executions
            ended by infrastructure faults (LLM backend errors or timeouts, a wall clock spent waiting for
            replies, grader failures). Faulted executions never enter the advantage groups or the loss.
    """

    num_designs: int = 4
    num_executions: int = 4
    prompt_variant: PromptVariant = "full"
    max_concurrent_executions: int = 64
    designer_sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(temperature=1.0, top_p=0.9))
    executor_sampling: SamplingConfig = field(default_factory=SamplingConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    format_reward: FormatRewardConfig = field(default_factory=FormatRewardConfig)
    max_executor_rows_per_execution: int = 16
    merge_multi_turn: bool = True
    seed: int = 0
    validation: ValidationRolloutConfig = field(default_factory=ValidationRolloutConfig)
    truncated_sampling: Literal["accept", "reject"] = "accept"
    train_code_reward: Literal["pass_rate", "all_pass"] = "pass_rate"
    max_infra_fault_share: float = 0.5

    def validate(self, path: str = "metaagent.rollout") -> "RolloutTreeConfig":
        require(self.num_designs >= 1, f"{path}.num_designs", f"must be >= 1, got {self.num_designs}",
                f"set {path}.num_designs=4 (the paper's M)")
        require(self.num_executions >= 1, f"{path}.num_executions", f"must be >= 1, got {self.num_executions}",
                f"set {path}.num_executions=4 (the paper's N)")
        require(
            self.max_concurrent_executions >= 1,
            f"{path}.max_concurrent_executions",
            f"must be >= 1, got {self.max_concurrent_executions}",
            f"set {path}.max_concurrent_executions=64",
        )
        require(
            self.max_executor_rows_per_execution >= 0,
            f"{path}.max_executor_rows_per_execution",
            f"must be >= 0 (0 = no cap), got {self.max_executor_rows_per_execution}",
            f"set {path}.max_executor_rows_per_execution=16",
        )
        self.designer_sampling.validate(f"{path}.designer_sampling")
        self.executor_sampling.validate(f"{path}.executor_sampling")
        self.budget.validate(f"{path}.budget")
        require(
            self.truncated_sampling in ("accept", "reject"),
            f"{path}.truncated_sampling",
            f"must be 'accept' or 'reject', got {self.truncated_sampling!r}",
            f"set {path}.truncated_sampling=accept",
        )
        require(
            self.train_code_reward in ("pass_rate", "all_pass"),
            f"{path}.train_code_reward",
            f"must be 'pass_rate' or 'all_pass', got {self.train_code_reward!r}",
            f"set {path}.train_code_reward=pass_rate (the release's training reward)",
        )
        require(
            0.0 <= self.max_infra_fault_share <= 1.0,
            f"{path}.max_infra_fault_share",
            f"must be in [0, 1], got {self.max_infra_fault_share}",
            f"set {path}.max_infra_fault_share=0.5",
        )
        v = self.validation
        require(v.num_designs >= 1, f"{path}.validation.num_designs", f"must be >= 1, got {v.num_designs}",
                f"set {path}.validation.num_designs=1")
        require(v.num_executions >= 1, f"{path}.validation.num_executions", f"must be >= 1, got {v.num_executions}",
                f"set {path}.validation.num_executions=1")
        return self


load_rollout_config = section_loader(RolloutTreeConfig, "metaagent.rollout")


def apply_sandbox_settings(section: Any) -> None:
    """``metaagent.sandbox`` (mode, jail, jail_paths, design_work_root) -> this process's sandbox settings,
    for the executions a rollout worker runs; ``VERL_METAAGENT_SANDBOX_*`` variables already set win
    (:func:`verl_metaagent.sandbox.settings_from_config`)."""
    import os

    from verl_metaagent.sandbox import settings_from_config

    os.environ.update(settings_from_config(section, os.environ).to_environ())
