"""A minimal token sampler for a transformers causal LM on CPU (used by the cpu rollout server).

KV-cached incremental decoding, one sequence at a time. Each step scales the last logits by
``1/temperature``, masks to the ``top_k`` most likely tokens and to the smallest nucleus of mass
``top_p``, and samples; the reported log-probability is that of the chosen token under this
processed distribution (verl's default ``logprobs_mode=processed_logprobs``). ``temperature=0``
is greedy decoding and reports the log-probability under the unscaled distribution.

(Written here because ``verl_metaagent/backends/transformers_backend.py`` did not exist when the
cpu rollout was built; see docs/cpu.md.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Optional

import torch


@dataclass
class SampleResult:
    """One sampled continuation.

    Attributes:
        token_ids: generated token ids (EOS included when it was produced).
        log_probs: log-probability of each generated token (same length as ``token_ids``).
        finish_reason: ``"stop"`` (an EOS id was produced) or ``"length"`` (budget reached).
    """

    token_ids: list[int] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)
    finish_reason: str = "length"


def process_logits(logits: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """Return log-probabilities of the processed distribution for a 1-D ``logits`` vector.

    Args:
        logits: ``[vocab]`` float tensor.
        temperature: > 0 scales logits by ``1/temperature``; <= 0 leaves them (greedy).
        top_k: keep the ``top_k`` largest logits; <= 0 keeps all.
        top_p: keep the smallest set of tokens whose probability mass reaches ``top_p``; >= 1 keeps all.
    """
    logits = logits.float()
    if temperature > 0:
        logits = logits / temperature
    if 0 < top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if 0 < top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = mass_before >= top_p  # the token that crosses top_p is kept
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return torch.log_softmax(logits, dim=-1)


@torch.no_grad()
def sample(
    model: torch.nn.Module,
    prompt_ids: list[int],
    *,
    max_tokens: int,
    temperature: float = 1.0,
    top_k: int = -1,
    top_p: float = 1.0,
    eos_token_ids: Iterable[int] = (),
    generator: Optional[torch.Generator] = None,
) -> SampleResult:
    """Sample up to ``max_tokens`` tokens after ``prompt_ids``.

    Args:
        model: a transformers causal LM (``model(input_ids, past_key_values, use_cache)``).
        prompt_ids: non-empty list of prompt token ids.
        max_tokens: maximum number of new tokens (>= 1).
        temperature, top_k, top_p: see :func:`process_logits`.
        eos_token_ids: ids that end the continuation (kept in the output).
        generator: optional torch RNG for reproducible sampling.
    """
    if not prompt_ids:
        raise ValueError("sample: prompt_ids is empty")
    if max_tokens < 1:
        raise ValueError(f"sample: max_tokens must be >= 1, got {max_tokens}")
    eos = set(int(i) for i in eos_token_ids)
    result = SampleResult()
    input_ids = torch.tensor([prompt_ids], dtype=torch.long)
    past = None
    for _ in range(max_tokens):
        out = model(input_ids=input_ids, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logp = process_logits(out.logits[0, -1], temperature, top_k, top_p)
        if temperature > 0:
            token = int(torch.multinomial(logp.exp(), 1, generator=generator).item())
        else:
            token = int(torch.argmax(logp).item())
        result.token_ids.append(token)
        result.log_probs.append(float(logp[token].item()))
        if token in eos:
            result.finish_reason = "stop"
            break
        input_ids = torch.tensor([[token]], dtype=torch.long)
    return result
