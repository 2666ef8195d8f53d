"""A verl multi-turn SFT dataset that trains on exactly the tokens the model sees and writes at inference.

verl's :class:`~verl.utils.dataset.multiturn_sft_dataset.MultiTurnSFTDataset` renders each message
on its own and concatenates. With Qwen3's chat template that differs from inference: the template
puts ``<think>\\n\\n</think>\\n\\n`` before the last assistant reply (and, with thinking off, in the
generation prompt) and moves a ``<think>...</think>`` block out of the reply, so per-message
rendering fails verl's own sanity check ("apply_chat_template to each turn separately ...") on
every sample, and with ``ignore_input_ids_mismatch`` it would train the designer *without* its
``<think>`` analysis and after a prompt the RL run never shows.

This class builds each sample the way a rollout produces it:

* the prompt of the first assistant turn is ``apply_chat_template(messages[:i], add_generation_prompt=True)``
  (with ``data.apply_chat_template_kwargs``, e.g. ``enable_thinking: false``), loss mask 0;
* the reply is ``tokenizer.encode(content)`` + the end-of-turn token (eos), loss mask 1; the
  template's turn separator after it (``\\n`` for Qwen) has mask 0;
* later turns (an agent asked again) append the new messages rendered on their own with the
  generation prompt (the template's default system prompt removed), mask 0, then the next reply,
  i.e. the token continuation of a multi-turn rollout.

With a plain template (no reasoning handling) the tokens equal verl's own dataset's. Rows with
images or videos fall back to the parent class. Use it with
``data.custom_cls.path=pkg://verl_metaagent.distill.sft_dataset data.custom_cls.name=InferenceAlignedSFTDataset``.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
import torch.nn.functional as F
from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset
from verl.utils.py_functional import convert_nested_value_to_list_recursive

__all__ = ["InferenceAlignedSFTDataset", "aligned_token_ids"]


def _ids(out: Any) -> list[int]:
    """Token ids from ``apply_chat_template(tokenize=True)`` across transformers versions."""
    if isinstance(out, dict) or hasattr(out, "keys"):
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    if out and isinstance(out[0], list):
        out = out[0]
    return list(out)


def aligned_token_ids(
    tokenizer: Any,
    messages: list[dict],
    *,
    chat_template_kwargs: Optional[dict] = None,
    system_prompt: Optional[list[int]] = None,
    generation_prompt: Optional[list[int]] = None,
    separator: Optional[list[int]] = None,
) -> tuple[list[int], list[int]]:
    """``(input_ids, loss_mask)`` of a chat as a rollout would produce it (see the module docstring).

    Args:
        tokenizer: a Hugging Face tokenizer with a chat template.
        messages: ``{"role", "content"}`` dicts; every assistant message is a trained reply.
        chat_template_kwargs: e.g. ``{"enable_thinking": False}``.
        system_prompt / generation_prompt: the template's default system-prompt tokens (stripped
            from later turns' rendering) and generation-prompt tokens; computed when None.
        separator: tokens the template puts after the end-of-turn token; computed when None.
    """
    from verl.utils.tokenizer.chat_template import extract_system_prompt_and_generation, initialize_turn_separator

    kwargs = dict(chat_template_kwargs or {})
    if system_prompt is None or generation_prompt is None:
        sys_ids, gen_ids = extract_system_prompt_and_generation(tokenizer, **kwargs)
        system_prompt = list(sys_ids) if system_prompt is None else system_prompt
        generation_prompt = list(gen_ids) if generation_prompt is None else generation_prompt
    if separator is None:
        separator = list(initialize_turn_separator(tokenizer, **kwargs))
    eos = tokenizer.eos_token_id
    if isinstance(eos, (list, tuple)):
        eos = eos[0]
    if eos is None:
        raise ValueError("the tokenizer has no eos_token_id; set it to the end-of-turn token (e.g. <|im_end|>)")

    def render(msgs: list[dict]) -> list[int]:
        return _ids(tokenizer.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, **kwargs))

    ids: list[int] = []
    mask: list[int] = []
    last = 0  # index after the previous assistant message
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        if not ids:
            prompt = render(messages[:i])
        else:
            new = messages[last:i]
            if new:
                prompt = render(new)
                if system_prompt and new[0]["role"] != "system" and prompt[: len(system_prompt)] == system_prompt:
                    prompt = prompt[len(system_prompt) :]
            else:  # two replies in a row: only the generation prompt
                prompt = list(generation_prompt)
        reply = list(tokenizer.encode(message["content"], add_special_tokens=False)) + [eos]
        ids += prompt + reply + separator
        mask += [0] * len(prompt) + [1] * len(reply) + [0] * len(separator)
        last = i + 1
    return ids, mask


class InferenceAlignedSFTDataset(MultiTurnSFTDataset):
    """:class:`MultiTurnSFTDataset` with rollout-aligned tokenization (see the module docstring).

    Same constructor and config keys as the parent (``messages_key``, ``max_length``,
    ``truncation``, ``pad_mode``, ``apply_chat_template_kwargs``, ``enable_thinking_key``...).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from verl.utils.tokenizer.chat_template import initialize_turn_separator

        self._separator = list(initialize_turn_separator(self.tokenizer, **self.apply_chat_template_kwargs))

    def __getitem__(self, item):
        row = self.dataframe.iloc[item].to_dict()
        if row.get(self.image_key) is not None or row.get(self.video_key) is not None or self.processor is not None:
            return super().__getitem__(item)
        messages = convert_nested_value_to_list_recursive(row[self.messages_key])
        kwargs = dict(self.apply_chat_template_kwargs)
        enable_thinking = (self.enable_thinking[item] if self.enable_thinking is not None
                           else self.enable_thinking_default)
        if enable_thinking is not None:
            kwargs["enable_thinking"] = bool(enable_thinking)
        ids, mask = aligned_token_ids(
            self.tokenizer,
            messages,
            chat_template_kwargs=kwargs,
            system_prompt=list(self.system_prompt),
            generation_prompt=list(self.generation_prompt),
            separator=self._separator,
        )
        input_ids = torch.tensor(ids, dtype=torch.long)
        loss_mask = torch.tensor(mask, dtype=torch.long)
        attention_mask = torch.ones_like(input_ids)
        length = input_ids.shape[0]
        if length > self.max_length:
            if self.truncation == "error":
                raise ValueError(f"sample {item}: {length} tokens > data.max_length={self.max_length}; "
                                 "raise data.max_length or set data.truncation=right")
            keep = slice(-self.max_length, None) if self.truncation == "left" else slice(0, self.max_length)
            input_ids, loss_mask, attention_mask = input_ids[keep], loss_mask[keep], attention_mask[keep]
            length = self.max_length
        position_ids = torch.arange(length, dtype=torch.long)
        if self.pad_mode == "no_padding":
            return {"input_ids": input_ids, "position_ids": position_ids, "loss_mask": loss_mask}
        pad = self.max_length - length
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        return {
            "input_ids": F.pad(input_ids, (0, pad), value=pad_id),
            "attention_mask": F.pad(attention_mask, (0, pad), value=0),
            "position_ids": F.pad(position_ids, (0, pad), value=0),
            "loss_mask": F.pad(loss_mask, (0, pad), value=0),
        }
