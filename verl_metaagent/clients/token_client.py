"""A policy client over verl's server-manager call shape (token ids in, token ids out)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from verl_metaagent.clients.base import Completion, UsageTally
from verl_metaagent.clients.chat_tokens import ChatTokenizer
from verl_metaagent.clients.engine_params import engine_of, engine_sampling_params, stop_reason_by_count


class TokenPolicyClient:
    """Renders chat messages with the policy's chat template and calls ``llm.generate``.

    Args:
        llm: verl's ``LLMServerClient`` / ``AsyncLLMServerManager``, or a backend from
            :mod:`verl_metaagent.backends` (same ``generate`` shape).
        tokenizer: the policy's tokenizer.
        chat_template_kwargs: ``data.apply_chat_template_kwargs`` (e.g. ``enable_thinking``).
        merge_multi_turn: when an agent is asked again with its previous exchange as history,
            continue the exact tokens it saw and produced (:meth:`ChatTokenizer.continuation_ids`)
            instead of re-rendering, so the calls form one multi-turn training row.
        engine: the rollout engine behind ``llm`` (``"vllm"``, ``"sglang"``, ``"cpu"``); sampling
            params are renamed for it (:mod:`verl_metaagent.clients.engine_params`). Default: read
            from verl's config on ``llm`` (``actor_rollout_ref.rollout.name``), else our names.

    A completion that used its whole ``max_tokens`` budget gets ``stop_reason="length"`` whatever
    the engine reported (verl's vLLM server reports a cut answer as ``"completed"``).
    """

    def __init__(self, llm: Any, tokenizer: Any, chat_template_kwargs: Optional[dict] = None, *,
                 merge_multi_turn: bool = True, engine: Optional[str] = None):
        self.llm = llm
        self.engine = engine if engine is not None else engine_of(llm)
        self._eos_ids = frozenset(i for i in [getattr(tokenizer, "eos_token_id", None)] if isinstance(i, int))
        self.chat = ChatTokenizer(tokenizer, chat_template_kwargs)
        self.merge_multi_turn = merge_multi_turn
        self.usage = UsageTally()
        self.min_weight_version: Optional[int] = None
        self.max_weight_version: Optional[int] = None

    def prompt_ids(self, messages: Sequence[dict], previous: Optional[Completion] = None) -> list[int]:
        """Prompt ids of ``messages``: a continuation of ``previous`` when possible, else a fresh render."""
        if previous is not None and self.merge_multi_turn and previous.prompt_ids is not None:
            ids = self.chat.continuation_ids(previous.messages, previous.prompt_ids, previous.response_ids or [],
                                             messages)
            if ids is not None:
                return ids
        return self.chat.prompt_ids(messages)

    async def complete(
        self, request_id: str, messages: Sequence[dict], sampling: dict, *, previous: Optional[Completion] = None
    ) -> Completion:
        """One generation; see :class:`verl_metaagent.clients.PolicyClient`."""
        messages = [dict(m) for m in messages]
        prompt_ids = self.prompt_ids(messages, previous)
        request = engine_sampling_params(sampling, self.engine)
        out = await self.llm.generate(request_id, prompt_ids=prompt_ids, sampling_params=request)
        response_ids = list(out.token_ids)
        self._note_weight_version(getattr(out, "extra_fields", None) or {})
        completion = Completion(
            text=self.chat.decode(response_ids),
            messages=messages,
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            logprobs=list(out.log_probs) if getattr(out, "log_probs", None) is not None else None,
            stop_reason=stop_reason_by_count(
                len(response_ids), sampling.get("max_tokens"), getattr(out, "stop_reason", None),
                response_ids[-1] if response_ids else None, self._eos_ids,
            ),
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(response_ids),
        )
        self.usage.add(completion)
        return completion

    def _note_weight_version(self, extra_fields: dict) -> None:
        """Track the range of policy versions (verl's ``global_steps`` of the serving weights) that
        answered this client's calls; verl's v1 trainer needs it for staleness bookkeeping."""
        low = extra_fields.get("min_global_steps", extra_fields.get("global_steps"))
        high = extra_fields.get("max_global_steps", extra_fields.get("global_steps"))
        if low is not None:
            low = int(low)
            self.min_weight_version = low if self.min_weight_version is None else min(self.min_weight_version, low)
        if high is not None:
            high = int(high)
            self.max_weight_version = high if self.max_weight_version is None else max(self.max_weight_version, high)

    def weight_version_span(self, default: int) -> tuple[int, int]:
        """``(min, max)`` policy version seen so far, ``(default, default)`` when no server reported one."""
        low = self.min_weight_version if self.min_weight_version is not None else default
        high = self.max_weight_version if self.max_weight_version is not None else default
        return low, high
