"""Which distilled samples to keep: pure functions on trees and sample lists (no I/O, no randomness
beyond an explicit seed).

* :func:`candidates_from_tree` turns one graded design-execute tree into designer samples (designs
  whose mean execution reward reaches ``min_design_reward``) and executor samples (each agent's
  chat in executions whose reward reaches ``min_execution_reward``), counting every rejection
  by reason.
* :func:`dedupe` drops samples with an id or content key seen before (first one wins).
* :func:`cap_per_problem` keeps the best few samples of each problem per role.
* :func:`balance` picks ``target`` samples spread as evenly as possible over pattern types.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional, Sequence

from verl_metaagent.distill.records import SampleError, SFTSample, format_designer_answer, split_designer_answer

__all__ = ["SelectionConfig", "Candidates", "candidates_from_tree", "agent_chats", "dedupe", "cap_per_problem",
           "balance", "select"]


@dataclass
class SelectionConfig:
    """What counts as a good sample.

    Attributes:
        min_design_reward: keep a design when the mean reward of its executions is at least this
            (the paper keeps designs that succeed; 0.5 = at least half of its N executions correct).
        min_execution_reward: keep the agents' chats of executions with at least this reward (1.0 = correct).
        require_think: a designer answer must carry a non-empty ``<think>`` analysis.
        strip_executor_thinking: drop ``<think>...</think>`` from executor replies (the design saw
            the replies without them; the SFT model runs with thinking off).
        designer_prompt: ``short`` (the stored sample's prompt is the ``short`` designer prompt the
            RL run uses after SFT) or ``teacher`` (the prompt the teacher saw).
    """

    min_design_reward: float = 0.5
    min_execution_reward: float = 1.0
    require_think: bool = True
    strip_executor_thinking: bool = True
    designer_prompt: str = "short"

    def validate(self) -> "SelectionConfig":
        if not 0.0 <= self.min_design_reward <= 1.0:
            raise ValueError(f"--min-design-reward must be in [0, 1], got {self.min_design_reward}")
        if not 0.0 <= self.min_execution_reward <= 1.0:
            raise ValueError(f"--min-execution-reward must be in [0, 1], got {self.min_execution_reward}")
        if self.designer_prompt not in ("short", "teacher"):
            raise ValueError(f"--designer-prompt must be 'short' or 'teacher', got {self.designer_prompt!r}")
        return self


@dataclass
class Candidates:
    """Samples one tree yields, and why the rest did not make it (reason -> count)."""

    designer: list[SFTSample] = field(default_factory=list)
    executor: list[SFTSample] = field(default_factory=list)
    rejected: Counter = field(default_factory=Counter)
    stats: Counter = field(default_factory=Counter)


def _strip_think(text: str) -> str:
    from verl_metaagent.clients.chat_tokens import strip_thinking

    return strip_thinking(text)


def agent_chats(calls: Sequence[Any], *, strip_thinking: bool = True) -> list[tuple[str, list[dict]]]:
    """One chat per agent conversation in an execution: ``[(agent, messages), ...]`` in call order.

    A call whose chat is a prefix of the same agent's later call (the agent was asked again with
    its history) is folded into that later chat, so each reply is trained once; calls that do not
    extend each other stay separate chats.
    """
    chats: list[tuple[str, list[dict]]] = []
    for call in calls:
        messages = [dict(role=m["role"], content=m["content"]) for m in (call.messages or [])]
        if not messages:
            continue
        if strip_thinking and messages[-1]["role"] == "assistant":
            messages[-1]["content"] = _strip_think(messages[-1]["content"])
        for idx in range(len(chats) - 1, -1, -1):
            agent, earlier = chats[idx]
            if agent == call.agent and len(earlier) < len(messages) and messages[: len(earlier)] == earlier:
                chats[idx] = (agent, messages)
                break
        else:
            chats.append((call.agent, messages))
    return chats


def candidates_from_tree(
    tree: Any,
    *,
    problem_id: str,
    short_prompt: list[dict],
    config: SelectionConfig,
    source: str = "",
) -> Candidates:
    """Designer and executor samples of one graded tree (a :class:`~verl_metaagent.rollout.tree_runner.ProblemTree`).

    Args:
        problem_id: journal key of the problem (part of every sample id).
        short_prompt: the ``short`` designer prompt of the problem (used when
            ``config.designer_prompt == "short"``).
    """
    out = Candidates()
    problem = tree.problem
    for design in tree.designs:
        out.stats["designs"] += 1
        rewards = [e.reward for e in design.executions]
        out.stats["executions"] += len(rewards)
        # ---- designer sample
        if not design.valid:
            out.rejected["designer: invalid design"] += 1
        elif not rewards:
            out.rejected["designer: not executed"] += 1
        elif sum(rewards) / len(rewards) < config.min_design_reward:
            out.rejected["designer: mean reward below threshold"] += 1
        elif getattr(design, "stop_reason", None) == "length":
            out.rejected["designer: answer cut at max_tokens"] += 1
        else:
            think, code, error = split_designer_answer(design.text)
            if code is None:  # pragma: no cover - valid designs always have code
                out.rejected["designer: no code"] += 1
            elif config.require_think and not think:
                out.rejected["designer: no <think> analysis"] += 1
            else:
                prompt = short_prompt if config.designer_prompt == "short" else list(design.messages or short_prompt)
                try:
                    out.designer.append(
                        SFTSample(
                            id=f"designer_{problem_id}_d{design.j}",
                            role="designer",
                            messages=[dict(m) for m in prompt]
                            + [{"role": "assistant", "content": format_designer_answer(think, code)}],
                            problem_id=problem_id,
                            data_source=problem.data_source,
                            task_type=problem.task_type,
                            pattern=design.pattern,
                            reward=sum(rewards) / len(rewards),
                            source=source,
                        )
                    )
                except SampleError:
                    out.rejected["designer: malformed sample"] += 1
        # ---- executor samples
        for execution in design.executions:
            if execution.status != "finished" or execution.reward < config.min_execution_reward:
                out.rejected["executor: execution "
                             f"{'incorrect' if execution.status == 'finished' else execution.status}"] += 1
                continue
            out.stats["correct_executions"] += 1
            if any(getattr(call, "stop_reason", None) == "length" for call in execution.calls):
                out.rejected["executor: a reply was cut at max_tokens"] += 1
                continue
            for n, (agent, messages) in enumerate(agent_chats(execution.calls,
                                                              strip_thinking=config.strip_executor_thinking)):
                try:
                    out.executor.append(
                        SFTSample(
                            id=f"executor_{problem_id}_d{design.j}e{execution.k}_{n}",
                            role="executor",
                            messages=messages,
                            problem_id=problem_id,
                            data_source=problem.data_source,
                            task_type=problem.task_type,
                            pattern=design.pattern,
                            reward=execution.reward,
                            agent=agent,
                            source=source,
                        )
                    )
                except SampleError as exc:
                    out.rejected[f"executor: {exc.reason}"] += 1
    return out


# --------------------------------------------------------------------------------------------- selection


def dedupe(samples: Iterable[SFTSample], seen: Optional[set] = None) -> tuple[list[SFTSample], int]:
    """Drop samples whose id or content key was seen (in ``seen`` or earlier in ``samples``).

    Returns:
        ``(kept, dropped_count)``; ``seen`` (if given) is updated with the kept ids and keys.
    """
    seen = set() if seen is None else seen
    kept, dropped = [], 0
    for sample in samples:
        key = sample.key
        if sample.id in seen or key in seen:
            dropped += 1
            continue
        seen.add(sample.id)
        seen.add(key)
        kept.append(sample)
    return kept, dropped


def cap_per_problem(samples: Iterable[SFTSample], cap: int) -> list[SFTSample]:
    """At most ``cap`` samples per (problem, role): highest reward first, then id (0 = no cap)."""
    samples = list(samples)
    if cap <= 0:
        return samples
    groups: dict = defaultdict(list)
    for s in samples:
        groups[(s.problem_id or s.id, s.role)].append(s)
    keep = set()
    for group in groups.values():
        for s in sorted(group, key=lambda s: (-s.reward, s.id))[:cap]:
            keep.add(s.id)
    return [s for s in samples if s.id in keep]


def balance(samples: Sequence[SFTSample], target: int, *, seed: int = 0,
            key: Callable[[SFTSample], str] = lambda s: s.pattern or "unknown") -> list[SFTSample]:
    """Pick ``target`` samples spread as evenly as possible over ``key`` (pattern type).

    Water-filling: every group gets an equal share; groups smaller than their share give all
    they have and the rest is shared by the larger groups. Within a group the pick is a seeded
    shuffle (stable under input order: samples are sorted by id first). ``target <= 0`` or
    ``target >= len(samples)`` keeps everything. Output is sorted by id.
    """
    samples = sorted(samples, key=lambda s: s.id)
    if target <= 0 or target >= len(samples):
        return samples
    groups: dict[str, list[SFTSample]] = defaultdict(list)
    for s in samples:
        groups[key(s)].append(s)
    rng = random.Random(seed)
    for name in sorted(groups):
        rng.shuffle(groups[name])
    quota = {name: 0 for name in groups}
    remaining = target
    active = sorted(groups)
    while remaining > 0 and active:
        share = max(1, remaining // len(active))
        for name in list(active):
            if remaining == 0:
                break
            take = min(share, len(groups[name]) - quota[name], remaining)
            quota[name] += take
            remaining -= take
            if quota[name] >= len(groups[name]):
                active.remove(name)
    picked = [s for name in sorted(groups) for s in groups[name][: quota[name]]]
    return sorted(picked, key=lambda s: s.id)


def select(samples: Iterable[SFTSample], *, role: str, target: int, per_problem: int = 0,
           seed: int = 0) -> tuple[list[SFTSample], Counter]:
    """The final set of one role: dedupe -> per-problem cap -> pattern balance to ``target``.

    Returns:
        ``(samples, counts)`` with counts ``candidates``, ``duplicates``, ``over_problem_cap``,
        ``over_target`` and ``kept``.
    """
    pool = [s for s in samples if s.role == role]
    counts: Counter = Counter(candidates=len(pool))
    unique, dup = dedupe(pool)
    counts["duplicates"] = dup
    capped = cap_per_problem(unique, per_problem)
    counts["over_problem_cap"] = len(unique) - len(capped)
    picked = balance(capped, target, seed=seed)
    counts["over_target"] = len(capped) - len(picked)
    counts["kept"] = len(picked)
    return picked, counts
