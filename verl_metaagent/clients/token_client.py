"""A policy client over verl's server-manager call shape (token ids in, token ids out)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

from verl_metaagent.clients.base import Completion, UsageTally
from verl_metaagent.rollout.chat_tokens import ChatTokenizer


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
    """

    def __init__(self, llm: Any, tokenizer: Any, chat_template_kwargs: Optional[dict] = None, *, merge_multi_turn: bool = True):
        self.llm = llm
        self.chat = ChatTokenizer(tokenizer, chat_template_kwargs)
        self.merge_multi_turn = merge_multi_turn
        self.usage = UsageTally()

    def prompt_ids(self, messages: Sequence[dict], previous: Optional[Completion] = None) -> list[int]:
        """Prompt ids of ``messages``: a continuation of ``previous`` when possible, else a fresh render."""
        if previous is not None and self.merge_multi_turn and previous.prompt_ids is not None:
            ids = self.chat.continuation_ids(previous.messages, previous.prompt_ids, previous.response_ids or [], messages)
            if ids is not None:
                return ids
        return self.chat.prompt_ids(messages)

    async def complete(
        self, request_id: str, messages: Sequence[dict], sampling: dict, *, previous: Optional[Completion] = None
    ) -> Completion:
        """One generation; see :class:`verl_metaagent.clients.PolicyClient`."""
        messages = [dict(m) for m in messages]
        prompt_ids = self.prompt_ids(messages, previous)
        out = await self.llm.generate(request_id, prompt_ids=prompt_ids, sampling_params=dict(sampling))
        response_ids = list(out.token_ids)
        completion = Completion(
            text=self.chat.decode(response_ids),
            messages=messages,
            prompt_ids=prompt_ids,
            response_ids=response_ids,
            logprobs=list(out.log_probs) if getattr(out, "log_probs", None) is not None else None,
            stop_reason=getattr(out, "stop_reason", None),
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(response_ids),
        )
        self.usage.add(completion)
        return completion
