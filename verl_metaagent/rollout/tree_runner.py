"""Grow one problem's design-execute tree against any LLM with verl's ``generate`` call shape.

The runner is independent of Ray and of verl's worker classes: it needs an ``llm`` object with
``async generate(request_id, *, prompt_ids, sampling_params) -> TokenOutput-like`` (verl's
``LLMServerClient``, or our CPU / scripted backends), a tokenizer, and a grader. The verl worker
(:mod:`.worker`) turns its :class:`ProblemTree` into training rows.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

from verl_metaagent.rollout.chat_tokens import ChatTokenizer, strip_thinking
from verl_metaagent.rollout.config import RolloutTreeConfig, SamplingConfig
from verl_metaagent.rollout.tree import (
    CallTokens,
    derive_seed,
    design_reward,
    design_uid,
    exec_uid,
    majority_answer,
)

Grader = Callable[[str, Optional[str], Any, dict], Awaitable[float]]
"""``await grader(data_source, final_answer, ground_truth, extra_info) -> reward``."""


@dataclass
class ProblemSpec:
    """One task from the dataset, as the rollout needs it."""

    uid: str
    problem_index: int
    question: str
    task_type: str  # "math" | "code" | other
    data_source: str
    ground_truth: Any
    extra_info: dict = field(default_factory=dict)

    @property
    def seed_key(self) -> str:
        """Stable identity for seeding (the trainer's ``uid`` is a fresh uuid each run): the dataset
        ``extra_info.index`` when present, else the question text, plus any ``#r`` repeat suffix."""
        index = self.extra_info.get("index") if isinstance(self.extra_info, dict) else None
        base = f"index:{index}" if index is not None else f"q:{self.question}"
        return base + (self.uid[self.uid.index("#"):] if "#" in self.uid else "")


@dataclass
class ExecutionNode:
    """One execution of a design: its agent calls, final answer, reward and status."""

    k: int
    exec_uid: str
    status: str
    reason: str
    final_answer: Optional[str]
    reward: float
    calls: list[CallTokens]
    seconds: float = 0.0


@dataclass
class DesignNode:
    """One sampled design: the designer's tokens, the parsed script and its executions."""

    j: int
    design_uid: str
    prompt_ids: list[int]
    response_ids: list[int]
    logprobs: Optional[list[float]]
    text: str
    code: Optional[str]
    valid: bool
    invalid_reason: str
    pattern: str
    executions: list[ExecutionNode]
    reward: float = 0.0
    messages: Optional[list[dict]] = None


@dataclass
class ProblemTree:
    """The whole tree of one problem (what one problem contributes to a rollout batch)."""

    problem: ProblemSpec
    designs: list[DesignNode]
    validation_reward: Optional[float] = None  # set in validation mode
    validation_answer: Optional[str] = None


def _sampling_params(cfg: SamplingConfig, *, default_max_tokens: int, seed: int, greedy: bool, logprobs: bool) -> dict:
    params = {
        "temperature": 0.0 if greedy else cfg.temperature,
        "top_p": 1.0 if greedy else cfg.top_p,
        "top_k": -1 if greedy else cfg.top_k,
        "max_tokens": min(cfg.max_tokens or default_max_tokens, default_max_tokens),
        "seed": seed,
        "logprobs": logprobs,
    }
    return params


class TreeRunner:
    """Grows M x N trees for problems; one instance per rollout step and worker.

    Args:
        cfg: the validated ``metaagent.rollout`` config.
        llm: object with verl's ``generate(request_id, *, prompt_ids, sampling_params)``.
        tokenizer: the policy's tokenizer (chat template used for every prompt).
        grader: async reward function for a final answer.
        prompt_length / response_length: verl's ``rollout.prompt_length/response_length``;
            every call's ``max_tokens`` is capped by ``response_length``.
        step: trainer global step (part of every seed).
        validate: validation mode (``cfg.validation`` tree, greedy unless ``val_sampling`` given).
        val_sampling: verl's ``rollout.val_kwargs`` as a SamplingConfig (validation only).
        chat_template_kwargs: ``data.apply_chat_template_kwargs``.
        test_runner: async ``(code, tests) -> dict`` for designs' ``run_tests`` calls (code tasks).
        logprobs: ask the server for logprobs (``rollout.calculate_log_probs``).
    """

    def __init__(
        self,
        cfg: RolloutTreeConfig,
        llm: Any,
        tokenizer: Any,
        grader: Grader,
        *,
        prompt_length: int,
        response_length: int,
        step: int = 0,
        validate: bool = False,
        val_sampling: Optional[SamplingConfig] = None,
        chat_template_kwargs: Optional[dict] = None,
        test_runner_factory: Optional[Callable[[ProblemSpec], Any]] = None,
        logprobs: bool = True,
        execution_semaphore: Optional[asyncio.Semaphore] = None,
    ):
        self.cfg = cfg
        self.llm = llm
        self.chat = ChatTokenizer(tokenizer, chat_template_kwargs)
        self.grader = grader
        self.prompt_length = prompt_length
        self.response_length = response_length
        self.step = step
        self.validate = validate
        self.val_sampling = val_sampling
        self.test_runner_factory = test_runner_factory
        self.logprobs = logprobs
        self.semaphore = execution_semaphore or asyncio.Semaphore(cfg.max_concurrent_executions)

    # ------------------------------------------------------------------ tree shape
    @property
    def num_designs(self) -> int:
        return self.cfg.validation.num_designs if self.validate else self.cfg.num_designs

    @property
    def num_executions(self) -> int:
        return self.cfg.validation.num_executions if self.validate else self.cfg.num_executions

    def _role_sampling(self, role_cfg: SamplingConfig) -> tuple[SamplingConfig, bool]:
        if not self.validate:
            return role_cfg, False
        if self.val_sampling is None:
            return role_cfg, True
        return self.val_sampling, self.val_sampling.temperature == 0

    # ------------------------------------------------------------------ public
    async def grow(self, problem: ProblemSpec) -> ProblemTree:
        """Sample M designs for ``problem``, execute each valid one N times, grade, and aggregate."""
        designs = await asyncio.gather(*(self._design_and_execute(problem, j) for j in range(self.num_designs)))
        tree = ProblemTree(problem=problem, designs=list(designs))
        if self.validate:
            self._select_validation_answer(tree)
        return tree

    # ------------------------------------------------------------------ designer
    async def _design_and_execute(self, problem: ProblemSpec, j: int) -> DesignNode:
        from verl_metaagent.design import build_designer_messages, classify_design, parse_design, validate_design

        duid = design_uid(problem.uid, j)
        messages = build_designer_messages(
            {"question": problem.question, "task_type": problem.task_type, **_public_task_fields(problem)},
            variant=self.cfg.prompt_variant,
        )
        prompt_ids = self.chat.prompt_ids(messages)
        role_cfg, greedy = self._role_sampling(self.cfg.designer_sampling)
        params = _sampling_params(
            role_cfg,
            default_max_tokens=self.response_length,
            seed=derive_seed(self.cfg.seed, self.step, problem.seed_key, j),
            greedy=greedy,
            logprobs=self.logprobs,
        )
        out = await self.llm.generate(duid, prompt_ids=prompt_ids, sampling_params=params)
        response_ids = list(out.token_ids)
        text = self.chat.decode(response_ids)
        parsed = parse_design(text)
        reasons: list[str] = []
        if parsed.code is None:
            reasons = [parsed.error or "no code found in the designer's answer"]
        else:
            reasons = list(validate_design(parsed.code))
        valid = not reasons
        pattern = classify_design(parsed.code) if parsed.code else "invalid"
        node = DesignNode(
            j=j,
            design_uid=duid,
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            logprobs=list(out.log_probs) if out.log_probs is not None else None,
            text=text,
            code=parsed.code,
            valid=valid,
            invalid_reason="; ".join(reasons),
            pattern=pattern if valid else "invalid",
            executions=[],
            messages=messages,
        )
        if valid:
            node.executions = list(
                await asyncio.gather(*(self._execute(problem, node, k) for k in range(self.num_executions)))
            )
        node.reward = design_reward(
            [e.reward for e in node.executions],
            valid=valid,
            invalid_reward=self.cfg.format_reward.invalid_design,
            valid_bonus=self.cfg.format_reward.valid_design_bonus,
        )
        return node

    # ------------------------------------------------------------------ executor
    async def _execute(self, problem: ProblemSpec, design: DesignNode, k: int) -> ExecutionNode:
        from verl_metaagent.design import AgentCallReply, DesignLimits, DesignTask, execute_design

        euid = exec_uid(problem.uid, design.j, k)
        calls: list[CallTokens] = []
        history: dict[str, tuple[list[dict], list[int], list[int]]] = {}
        role_cfg, greedy = self._role_sampling(self.cfg.executor_sampling)

        async def agent_caller(request) -> AgentCallReply:
            messages = [dict(m) for m in request.messages]
            prompt_ids = None
            prev = history.get(request.agent)
            if prev is not None and self.cfg.merge_multi_turn:
                prompt_ids = self.chat.continuation_ids(prev[0], prev[1], prev[2], messages)
            if prompt_ids is None:
                prompt_ids = self.chat.prompt_ids(messages)
            params = _sampling_params(
                role_cfg,
                default_max_tokens=self.response_length,
                seed=derive_seed(self.cfg.seed, self.step, problem.seed_key, design.j, k, request.call_index),
                greedy=greedy,
                logprobs=self.logprobs,
            )
            out = await self.llm.generate(f"{euid}/{request.agent}", prompt_ids=prompt_ids, sampling_params=params)
            response_ids = list(out.token_ids)
            logprobs = list(out.log_probs) if out.log_probs is not None else None
            raw_text = self.chat.decode(response_ids)
            text = strip_thinking(raw_text)
            # If the script asks this agent again with `text` appended as the assistant turn, the next
            # prompt continues these exact tokens (see ChatTokenizer.continuation_ids).
            history[request.agent] = (messages, prompt_ids, response_ids)
            calls.append(
                CallTokens(
                    agent=request.agent,
                    prompt_ids=prompt_ids,
                    response_ids=response_ids,
                    logprobs=logprobs,
                    messages=messages + [{"role": "assistant", "content": raw_text}],
                )
            )
            return AgentCallReply(
                text=text,
                prompt_ids=prompt_ids,
                response_ids=response_ids,
                logprobs=logprobs,
                finish_reason=getattr(out, "stop_reason", None),
            )

        budget = self.cfg.budget
        limits = DesignLimits(
            max_agent_calls=budget.max_agent_calls,
            max_total_tokens=budget.max_total_tokens,
            wall_seconds=budget.wall_seconds,
            cpu_seconds=budget.cpu_seconds,
            memory_mb=budget.memory_mb,
        )
        task = DesignTask(question=problem.question, task_type=problem.task_type, **_public_task_fields(problem))
        test_runner = self.test_runner_factory(problem) if self.test_runner_factory else None
        started = time.monotonic()
        async with self.semaphore:
            record = await execute_design(design.code, task, agent_caller, limits, test_runner=test_runner)
        if record.status == "finished" and record.final_answer is not None:
            reward = float(await self.grader(problem.data_source, record.final_answer, problem.ground_truth, problem.extra_info))
        else:
            reward = float(self.cfg.format_reward.no_answer)
        return ExecutionNode(
            k=k,
            exec_uid=euid,
            status=record.status,
            reason=record.reason,
            final_answer=record.final_answer,
            reward=reward,
            calls=calls,
            seconds=time.monotonic() - started,
        )

    # ------------------------------------------------------------------ validation
    def _select_validation_answer(self, tree: ProblemTree) -> None:
        executions = [e for d in tree.designs for e in d.executions]
        if self.cfg.validation.select == "majority":
            answer = majority_answer([e.final_answer for e in executions])
            matching = [e for e in executions if e.final_answer is not None and " ".join(e.final_answer.split()) == answer]
            chosen = matching[0] if matching else None
        else:
            chosen = executions[0] if executions else None
        tree.validation_answer = chosen.final_answer if chosen else None
        tree.validation_reward = chosen.reward if chosen else float(self.cfg.format_reward.invalid_design)


def _public_task_fields(problem: ProblemSpec) -> dict:
    """Task fields a design may see: public tests for code tasks (hidden tests stay with the grader)."""
    public = problem.extra_info.get("public_tests") if isinstance(problem.extra_info, dict) else None
    return {"public_tests": public} if public else {}
