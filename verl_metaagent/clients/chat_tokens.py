"""Chat messages -> prompt token ids, keeping a multi-turn agent's history as the model's own tokens.

When an agent is asked again, its new prompt is built by *appending* the new turn's tokens to
the tokens it already saw and produced (rather than re-rendering the whole history), whenever
the chat template allows it. The model then sees exactly its own earlier tokens, and the
calls can be trained as one multi-turn row (see
:func:`verl_metaagent.rollout.tree.calls_to_trajectories`).
"""

from __future__ import annotations

import re
from typing import Any, Optional, Sequence

_THINK_RE = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


def strip_thinking(text: str) -> str:
    """Drop ``<think>...</think>`` blocks (and an unterminated trailing ``<think>``) from a reply."""
    text = _THINK_RE.sub("", text)
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.strip()


class ChatTokenizer:
    """Renders chat messages with the tokenizer's chat template and encodes them for generation.

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template.
        chat_template_kwargs: extra kwargs for ``apply_chat_template`` (e.g. ``enable_thinking``),
            normally ``data.apply_chat_template_kwargs`` from verl's config.
    """

    def __init__(self, tokenizer: Any, chat_template_kwargs: Optional[dict] = None):
        self.tokenizer = tokenizer
        self.chat_template_kwargs = dict(chat_template_kwargs or {})

    def render(self, messages: Sequence[dict], add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt, **self.chat_template_kwargs
        )

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def prompt_ids(self, messages: Sequence[dict]) -> list[int]:
        """Token ids of ``messages`` rendered with the generation prompt."""
        return self.encode(self.render(messages, add_generation_prompt=True))

    def continuation_ids(
        self,
        prev_messages: Sequence[dict],
        prev_prompt_ids: Sequence[int],
        prev_response_ids: Sequence[int],
        messages: Sequence[dict],
    ) -> Optional[list[int]]:
        """Prompt ids for ``messages`` as ``prev_prompt + prev_response + new-turn tokens``, or None.

        Only possible when ``messages`` is ``prev_messages`` + the assistant's reply + new turns,
        and the template renders the earlier turns unchanged (templates that rewrite history,
        e.g. by dropping earlier reasoning, return None and the caller re-renders from scratch).
        """
        if len(messages) <= len(prev_messages) + 1 or list(messages[: len(prev_messages)]) != list(prev_messages):
            return None
        if messages[len(prev_messages)].get("role") != "assistant":
            return None
        head = self.render(prev_messages, add_generation_prompt=True)
        full = self.render(messages, add_generation_prompt=True)
        if not full.startswith(head):
            return None
        rest = full[len(head) :]
        produced = self.decode(prev_response_ids, skip_special_tokens=False)
        if not rest.startswith(produced):
            return None
        delta = rest[len(produced) :]
        if not delta:
            return None
        return list(prev_prompt_ids) + list(prev_response_ids) + self.encode(delta)
