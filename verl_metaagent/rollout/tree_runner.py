"""Grow one problem's design-execute tree against any policy client.

The runner is independent of Ray and of verl's worker classes: it needs a
:class:`~verl_metaagent.clients.PolicyClient` and a grader. During training the client is a
:class:`~verl_metaagent.clients.TokenPolicyClient` over verl's server manager, and the verl worker
(:mod:`.worker`) turns the :class:`ProblemTree` into training rows; distillation, evaluation and
``metaagent solve`` use the same runner with an OpenAI-compatible client.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional

from verl_metaagent.clients.base import Completion, PolicyClient
from verl_metaagent.clients.chat_tokens import strip_thinking
from verl_metaagent.contract import design_uid, exec_uid
from verl_metaagent.rollout.config import RolloutTreeConfig, SamplingConfig
from verl_metaagent.rollout.faults import infrastructure_fault
from verl_metaagent.rollout.tree import CallTokens, derive_seed, design_reward, majority_answer

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
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    fault: str = ""  # non-empty: an infrastructure fault ended it (rollout/faults.py); not trained on


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
    prompt_tokens: int = 0
    completion_tokens: int = 0
    stop_reason: Optional[str] = None  # of the designer's answer ("length" = cut at max_tokens)
    fault: str = ""  # non-empty: the designer call failed, or every execution hit an infrastructure fault


@dataclass
class ProblemTree:
    """The whole tree of one problem (what one problem contributes to a rollout batch)."""

    problem: ProblemSpec
    designs: list[DesignNode]
    validation_reward: Optional[float] = None  # set in validation mode
    validation_answer: Optional[str] = None


def _sampling_params(cfg: SamplingConfig, *, default_max_tokens: int, seed: int, greedy: bool, logprobs: bool) -> dict:
    """One request's sampling params in our names (the policy client maps them per engine,
    :mod:`verl_metaagent.clients.engine_params`); ``repetition_penalty`` / ``stop`` only when set."""
    params = {
        "temperature": 0.0 if greedy else cfg.temperature,
        "top_p": 1.0 if greedy else cfg.top_p,
        "top_k": -1 if greedy else cfg.top_k,
        "max_tokens": min(cfg.max_tokens or default_max_tokens, default_max_tokens),
        "seed": seed,
        "logprobs": logprobs,
    }
    if cfg.repetition_penalty is not None:
        params["repetition_penalty"] = float(cfg.repetition_penalty)
    if cfg.stop:
        params["stop"] = list(cfg.stop)
    return params


class TreeRunner:
    """Grows M x N trees for problems; one instance per rollout step and worker.

    Args:
        cfg: the validated ``metaagent.rollout`` config.
        client: the policy (:class:`~verl_metaagent.clients.PolicyClient`).
        grader: async reward function for a final answer.
        prompt_length / response_length: verl's ``rollout.prompt_length/response_length``;
            every call's ``max_tokens`` is capped by ``response_length``.
        step: trainer global step (part of every seed).
        validate: validation mode (``cfg.validation`` tree, greedy unless ``val_sampling`` given).
        val_sampling: verl's ``rollout.val_kwargs`` as a SamplingConfig (validation only).
        test_runner: async ``(code, tests) -> dict`` for designs' ``run_tests`` calls (code tasks).
        logprobs: ask the server for logprobs (``rollout.calculate_log_probs``).
        mask_faults: training: a failed designer call or grader marks the design / execution as an
            infrastructure fault (masked, counted; ``rollout/faults.py``) instead of raising. Off for
            evaluation, distillation and ``solve``, where the error must reach the user.
        designer_client: the policy that writes the designs when it is not ``client`` (the
            separate-parameters ablation); ``client`` then answers only the agent calls.
    """

    def __init__(
        self,
        cfg: RolloutTreeConfig,
        client: PolicyClient,
        grader: Grader,
        *,
        prompt_length: int,
        response_length: int,
        step: int = 0,
        validate: bool = False,
        val_sampling: Optional[SamplingConfig] = None,
        test_runner_factory: Optional[Callable[[ProblemSpec], Any]] = None,
        logprobs: bool = True,
        execution_semaphore: Optional[asyncio.Semaphore] = None,
        mask_faults: bool = False,
        designer_client: Optional[PolicyClient] = None,
    ):
        self.cfg = cfg
        self.client = client
        self.designer_client = designer_client if designer_client is not None else client
        self.grader = grader
        self.prompt_length = prompt_length
        self.response_length = response_length
        self.step = step
        self.validate = validate
        self.val_sampling = val_sampling
        self.test_runner_factory = test_runner_factory
        self.logprobs = logprobs
        self.semaphore = execution_semaphore or asyncio.Semaphore(cfg.max_concurrent_executions)
        self.mask_faults = mask_faults

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
            self.select_answer(tree)
        return tree

    # ------------------------------------------------------------------ designer
    async def _design_and_execute(self, problem: ProblemSpec, j: int) -> DesignNode:
        duid = design_uid(problem.uid, j)
        messages = designer_messages(problem, self.cfg.prompt_variant)
        role_cfg, greedy = self._role_sampling(self.cfg.designer_sampling)
        params = _sampling_params(
            role_cfg,
            default_max_tokens=self.response_length,
            seed=derive_seed(self.cfg.seed, self.step, problem.seed_key, j),
            greedy=greedy,
            logprobs=self.logprobs,
        )
        try:
            out = await self.designer_client.complete(duid, messages, params)
        except Exception as exc:  # an LLM backend failure: in training this design is masked, the step goes on
            if not self.mask_faults:
                raise
            node = self._design_node(problem, j, "", messages=messages, completion=None)
            node.fault = f"designer call failed: {type(exc).__name__}: {exc}"
            return node
        node = self._design_node(problem, j, out.text, messages=messages, completion=out)
        return await self._execute_design_node(problem, node)

    async def grow_fixed(self, problem: ProblemSpec, design_text: str) -> ProblemTree:
        """Execute a *given* design (no designer call) N times: fixed-workflow baselines and replays.

        ``design_text`` is parsed and validated exactly like a designer answer; the tree has one
        design node with empty designer tokens (it is not a training sample).
        """
        node = self._design_node(problem, 0, design_text, messages=None, completion=None)
        node = await self._execute_design_node(problem, node)
        tree = ProblemTree(problem=problem, designs=[node])
        if self.validate:
            self.select_answer(tree)
        return tree

    def _design_node(self, problem: ProblemSpec, j: int, text: str, *, messages: Optional[list[dict]],
                     completion: Optional[Completion]) -> DesignNode:
        from verl_metaagent.design import classify_design, parse_design, validate_design

        parsed = parse_design(text)
        if parsed.code is None:
            reasons = [parsed.error or "no code found in the designer's answer"]
        else:
            reasons = list(validate_design(parsed.code))
        valid = not reasons
        return DesignNode(
            j=j,
            design_uid=design_uid(problem.uid, j),
            prompt_ids=list(completion.prompt_ids or []) if completion else [],
            response_ids=list(completion.response_ids or []) if completion else [],
            logprobs=completion.logprobs if completion else None,
            text=text,
            code=parsed.code,
            valid=valid,
            invalid_reason="; ".join(reasons),
            pattern=classify_design(parsed.code) if valid else "invalid",
            executions=[],
            messages=messages,
            prompt_tokens=completion.prompt_tokens if completion else 0,
            completion_tokens=completion.completion_tokens if completion else 0,
            stop_reason=completion.stop_reason if completion else None,
        )

    async def _execute_design_node(self, problem: ProblemSpec, node: DesignNode) -> DesignNode:
        if node.valid:
            node.executions = list(
                await asyncio.gather(*(self._execute(problem, node, k) for k in range(self.num_executions)))
            )
        counted = [e.reward for e in node.executions if not e.fault]
        if node.valid and node.executions and not counted:
            node.fault = "every execution ended by an infrastructure fault"
        node.reward = design_reward(
            counted,
            valid=node.valid,
            invalid_reward=self.cfg.format_reward.invalid_design,
            valid_bonus=self.cfg.format_reward.valid_design_bonus,
        )
        return node

    # ------------------------------------------------------------------ executor
    async def _execute(self, problem: ProblemSpec, design: DesignNode, k: int) -> ExecutionNode:
        from verl_metaagent.design import AgentCallReply, DesignLimits, DesignTask, execute_design

        euid = exec_uid(problem.uid, design.j, k)
        calls: list[CallTokens] = []
        history: dict[str, Completion] = {}
        role_cfg, greedy = self._role_sampling(self.cfg.executor_sampling)

        async def agent_caller(request) -> AgentCallReply:
            params = _sampling_params(
                role_cfg,
                default_max_tokens=self.response_length,
                seed=derive_seed(self.cfg.seed, self.step, problem.seed_key, design.j, k, request.call_index),
                greedy=greedy,
                logprobs=self.logprobs,
            )
            out = await self.client.complete(
                f"{euid}/{request.agent}", request.messages, params,
                previous=history.get(request.agent) if self.cfg.merge_multi_turn else None,
            )
            # If the script asks this agent again with the reply appended as the assistant turn, a
            # token client continues these exact tokens (ChatTokenizer.continuation_ids).
            history[request.agent] = out
            calls.append(
                CallTokens(
                    agent=request.agent,
                    prompt_ids=list(out.prompt_ids or []),
                    response_ids=list(out.response_ids or []),
                    logprobs=out.logprobs,
                    messages=out.messages + [{"role": "assistant", "content": out.text}],
                    prompt_tokens=out.prompt_tokens,
                    completion_tokens=out.completion_tokens,
                    stop_reason=out.stop_reason,
                )
            )
            return AgentCallReply(
                text=strip_thinking(out.text),
                prompt_ids=out.prompt_ids,
                response_ids=out.response_ids,
                logprobs=out.logprobs,
                finish_reason=out.stop_reason,
                num_tokens=out.total_tokens,
            )

        budget = self.cfg.budget
        limits = DesignLimits(
            max_agent_calls=budget.max_agent_calls,
            max_total_tokens=budget.max_total_tokens if budget.max_total_tokens is not None else sys.maxsize,
            wall_seconds=budget.wall_seconds,
            cpu_seconds=budget.cpu_seconds,
            memory_mb=budget.memory_mb,
        )
        task = DesignTask(question=problem.question, task_type=problem.task_type, **_public_task_fields(problem))
        test_runner = self.test_runner_factory(problem) if self.test_runner_factory else None
        started = time.monotonic()
        async with self.semaphore:
            record = await execute_design(design.code, task, agent_caller, limits, test_runner=test_runner)
        wall = time.monotonic() - started
        llm_seconds = float(record.timings.get("llm_seconds", 0.0) or 0.0)
        fault = infrastructure_fault(
            record.status, record.reason, wall_seconds=wall, llm_seconds=llm_seconds, wall_limit=budget.wall_seconds
        )
        reward = float(self.cfg.format_reward.no_answer)
        if record.status == "finished" and record.final_answer is not None:
            try:
                reward = float(
                    await self.grader(problem.data_source, record.final_answer, problem.ground_truth,
                                      self._grading_info(problem))
                )
            except Exception as exc:  # the grader failed, not the design
                if not self.mask_faults:
                    raise
                fault = f"grader failed: {type(exc).__name__}: {exc}"
        return ExecutionNode(
            k=k,
            exec_uid=euid,
            status=record.status,
            reason=record.reason,
            final_answer=record.final_answer,
            reward=reward,
            calls=calls,
            seconds=wall,
            prompt_tokens=sum(c.prompt_tokens for c in calls),
            completion_tokens=sum(c.completion_tokens for c in calls),
            llm_seconds=llm_seconds,
            fault=fault or "",
        )

    def _grading_info(self, problem: ProblemSpec) -> dict:
        """The problem's ``extra_info`` as the grader sees it: code answers are scored by their test pass
        fraction in training (``metaagent.rollout.train_code_reward``, the release's reward) and by all
        tests passing in validation, unless the row sets ``extra_info.code_grading.score`` itself."""
        info = dict(problem.extra_info or {})
        if problem.task_type != "code":
            return info
        grading = dict(info.get("code_grading") or {})
        grading.setdefault("score", "all_pass" if self.validate else self.cfg.train_code_reward)
        if grading["score"] == "pass_rate":
            grading.setdefault("early_exit", False)  # a fraction of *all* tests, not up to the first failure
        info["code_grading"] = grading
        return info

    # ------------------------------------------------------------------ validation
    def select_answer(self, tree: ProblemTree) -> None:
        """Set the tree's answer and reward per ``cfg.validation.select`` (``first`` execution or ``majority`` vote)."""
        executions = [e for d in tree.designs for e in d.executions]
        if self.cfg.validation.select == "majority":
            answer = majority_answer([e.final_answer for e in executions], task_type=tree.problem.task_type)
            matching = [e for e in executions
                        if e.final_answer is not None and " ".join(e.final_answer.split()) == answer]
            chosen = matching[0] if matching else None
        else:
            chosen = executions[0] if executions else None
        tree.validation_answer = chosen.final_answer if chosen else None
        tree.validation_reward = chosen.reward if chosen else float(self.cfg.format_reward.invalid_design)


def _public_task_fields(problem: ProblemSpec) -> dict:
    """Task fields a design may see: public tests for code tasks (hidden tests stay with the grader)."""
    public = problem.extra_info.get("public_tests") if isinstance(problem.extra_info, dict) else None
    return {"public_tests": public} if public else {}


def designer_messages(problem: ProblemSpec, variant: str) -> list[dict]:
    """The designer's chat for ``problem`` (``full`` or ``short`` prompt), exactly as rollouts build it.

    Cold-start data stores these messages too, so SFT prompts and RL prompts cannot drift apart.
    """
    from verl_metaagent.design import build_designer_messages

    task = {"question": problem.question, "task_type": problem.task_type, **_public_task_fields(problem)}
    return build_designer_messages(task, variant=variant)
