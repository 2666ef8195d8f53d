"""Design-then-execute one problem with any policy client: the Python API behind ``metaagent solve``.

>>> from verl_metaagent.clients import OpenAIChatClient
>>> from verl_metaagent.solve import solve
>>> result = solve("What is 17 * 23?", OpenAIChatClient("http://127.0.0.1:8000/v1", "my-ckpt"))
>>> print(result.design_code, result.answer)

It runs the same :class:`~verl_metaagent.rollout.tree_runner.TreeRunner` as training, with each
role's own sampling (greedy by default): M designs, N executions each, the answer of the first
execution (``select="first"``) or the majority over all executions (``"majority"``).
With a ``ground_truth`` the answer is graded by :mod:`reward_fns` for ``data_source``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Optional

from verl_metaagent.clients.base import PolicyClient
from verl_metaagent.rollout.config import (
    BudgetConfig,
    RolloutTreeConfig,
    SamplingConfig,
    ValidationRolloutConfig,
)
from verl_metaagent.rollout.tree_runner import Grader, ProblemSpec, ProblemTree, TreeRunner


@dataclass
class SolveResult:
    """Outcome of :func:`solve`: the tree plus the fields a user looks at first."""

    tree: ProblemTree
    answer: Optional[str]
    reward: Optional[float]

    @property
    def design(self):
        """The first design node (its ``code``, ``pattern``, ``executions``)."""
        return self.tree.designs[0] if self.tree.designs else None

    @property
    def design_code(self) -> Optional[str]:
        return self.design.code if self.design else None

    @property
    def llm_calls(self) -> int:
        """Designer calls (designs actually sampled) + every agent call of every execution."""
        designer = sum(1 for d in self.tree.designs if d.messages is not None)
        return designer + sum(len(e.calls) for d in self.tree.designs for e in d.executions)

    @property
    def tokens(self) -> int:
        """Prompt + completion tokens over all calls (as the client counted them)."""
        total = 0
        for d in self.tree.designs:
            total += d.prompt_tokens + d.completion_tokens
            total += sum(e.prompt_tokens + e.completion_tokens for e in d.executions)
        return total


def no_grade() -> Grader:
    """A grader for problems without ground truth (every answer scores 0)."""

    async def grade(data_source: str, answer: Optional[str], ground_truth: Any, extra_info: dict) -> float:
        return 0.0

    return grade


def reward_fns_grader() -> Grader:
    """The default grader: :mod:`reward_fns` by ``data_source``."""
    from verl_metaagent.rollout.grading import make_grader

    return make_grader(None)


def solve_config(
    *,
    num_designs: int = 1,
    num_executions: int = 1,
    select: str = "first",
    prompt_variant: str = "full",
    designer_sampling: Optional[SamplingConfig] = None,
    executor_sampling: Optional[SamplingConfig] = None,
    budget: Optional[BudgetConfig] = None,
    seed: int = 0,
) -> RolloutTreeConfig:
    """A validated rollout config for inference (validation-mode tree of ``num_designs`` x ``num_executions``)."""
    cfg = RolloutTreeConfig(
        num_designs=num_designs,
        num_executions=num_executions,
        prompt_variant=prompt_variant,  # type: ignore[arg-type]
        designer_sampling=designer_sampling or SamplingConfig(temperature=0.0),
        executor_sampling=executor_sampling or SamplingConfig(temperature=0.0),
        budget=budget or BudgetConfig(),
        seed=seed,
        validation=ValidationRolloutConfig(num_designs=num_designs, num_executions=num_executions, select=select),  # type: ignore[arg-type]
    )
    return cfg.validate("solve")


async def solve_async(
    question: str,
    client: PolicyClient,
    *,
    task_type: str = "math",
    data_source: str = "user",
    ground_truth: Any = None,
    extra_info: Optional[dict] = None,
    design: Optional[str] = None,
    max_tokens: int = 4096,
    config: Optional[RolloutTreeConfig] = None,
    grader: Optional[Grader] = None,
    test_runner_factory=None,
    uid: str = "solve",
) -> SolveResult:
    """Design (or take ``design``) and execute; see the module docstring.

    Args:
        question: the task text.
        client: any :class:`~verl_metaagent.clients.PolicyClient`.
        task_type: ``math`` or ``code`` (code designs may call ``run_tests`` on ``extra_info['public_tests']``).
        ground_truth / data_source: grade the answer with :mod:`reward_fns` when given (raises
            :class:`reward_fns.UnknownDataSource` before any LLM call if no grader handles ``data_source``).
        design: a fixed design script to execute instead of asking the designer.
        max_tokens: per-call generation cap.
        config: the tree config (default :func:`solve_config`); sampling given there is used as-is.
    """
    cfg = config or solve_config()
    if grader is None:
        if ground_truth is not None:  # before any LLM call: is there a grader for data_source?
            import reward_fns

            reward_fns.check_graders([data_source], "the problem")
        grader = reward_fns_grader() if ground_truth is not None else no_grade()
    problem = ProblemSpec(
        uid=uid,
        problem_index=0,
        question=question,
        task_type=task_type,
        data_source=data_source,
        ground_truth=ground_truth,
        extra_info=dict(extra_info or {}),
    )
    runner = TreeRunner(
        cfg,
        client,
        grader,
        prompt_length=1 << 30,
        response_length=max_tokens,
        test_runner_factory=test_runner_factory or _default_test_runner_factory(task_type),
        logprobs=False,
    )
    # training-mode tree: each role keeps its own sampling (greedy = temperature 0 in solve_config)
    tree = await (runner.grow_fixed(problem, design) if design is not None else runner.grow(problem))
    runner.select_answer(tree)
    reward = tree.validation_reward if ground_truth is not None else None
    return SolveResult(tree=tree, answer=tree.validation_answer, reward=reward)


def solve(question: str, client: PolicyClient, **kwargs) -> SolveResult:
    """Synchronous :func:`solve_async` (runs its own event loop)."""
    return asyncio.run(solve_async(question, client, **kwargs))


def _default_test_runner_factory(task_type: str):
    # every task type: math designs run code too (run_code, the release's python_execute), as in training
    from verl_metaagent.rollout.grading import code_test_runner_factory

    return code_test_runner_factory()
