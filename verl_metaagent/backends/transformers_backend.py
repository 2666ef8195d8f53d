"""CPU generation with plain transformers, behind verl's ``LLMServerClient.generate`` call shape.

One implementation serves two users: :class:`TransformersBackend` (in-process, for tests and the
rollout's server manager stand-in) and the ``cpu`` rollout replica's Ray server
(:mod:`verl_metaagent.cpu.replica`), which wraps the same :class:`TransformersGenerator`.

Sampling parameters (verl's keys): ``temperature`` (0 = greedy), ``top_p``, ``top_k``
(``-1``/``0``/``None`` = off), ``max_tokens`` (alias ``max_new_tokens``), ``seed``, ``logprobs``,
``stop_token_ids`` (added to the model's eos ids), ``ignore_eos``.

Logprob convention. verl's rollout config defaults to ``logprobs_mode: processed_logprobs`` and
its actor recomputes ``log_softmax(logits / temperature)`` for the PPO ratio, so a sampled token's
logprob here is ``log_softmax(logits / T)[token]`` with the request's temperature ``T`` (``T = 1``
for greedy requests, i.e. the unmodified distribution). Top-k / top-p only restrict *which* token
may be drawn; they do not renormalise the reported logprob (this is what the trainer recomputes,
so the rollout/actor logprob gap stays ~0 on CPU).

Concurrency: ``generate`` is async; the torch work runs in a worker thread
(``asyncio.to_thread``) under a lock, so the event loop is never blocked and concurrent
requests are served one after another.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable


@dataclass
class GenerationResult:
    """Output of one request: response token ids, their logprobs, and why generation ended."""

    token_ids: list[int]
    log_probs: list[float]
    finish_reason: str  # "stop" (eos / stop token) or "length" (max_tokens)
    extra: dict[str, Any] = field(default_factory=dict)


def _parse_sampling(sp: dict | None, default_max_tokens: int) -> dict:
    sp = dict(sp or {})
    temperature = sp.get("temperature", 1.0)
    temperature = 1.0 if temperature is None else float(temperature)
    top_k = sp.get("top_k")
    top_k = None if top_k in (None, 0, -1) else int(top_k)
    top_p = sp.get("top_p")
    top_p = None if top_p in (None, 1, 1.0) else float(top_p)
    max_tokens = sp.get("max_tokens", sp.get("max_new_tokens"))
    max_tokens = default_max_tokens if max_tokens is None else int(max_tokens)
    return {
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "max_tokens": max(0, max_tokens),
        "seed": sp.get("seed"),
        "stop_token_ids": list(sp.get("stop_token_ids") or []),
        "ignore_eos": bool(sp.get("ignore_eos", False)),
    }


class TransformersGenerator:
    """Synchronous, thread-safe token-in/token-out generation with a transformers causal LM.

    Args:
        model_path: a Hugging Face model directory (e.g. from :func:`verl_metaagent.tiny_model.build_tiny_model`).
        model / tokenizer: already-loaded objects instead of ``model_path``.
        max_model_len: prompt + response cap; generation stops with ``"length"`` at it.
        default_max_tokens: used when a request gives no ``max_tokens``.
        seed: seed of the generator used by requests that carry no ``seed``.
    """

    def __init__(self, model_path: str | None = None, *, model=None, tokenizer=None,
                 max_model_len: int = 4096, default_max_tokens: int = 256, seed: int = 0,
                 dtype: str = "float32"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if model is None:
            if model_path is None:
                raise ValueError("TransformersGenerator needs model_path or model")
            model = AutoModelForCausalLM.from_pretrained(
                model_path, torch_dtype=getattr(torch, dtype), attn_implementation="sdpa")
        if tokenizer is None and model_path is not None:
            tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_model_len = max_model_len
        self.default_max_tokens = default_max_tokens
        self._torch = torch
        self._rng = torch.Generator().manual_seed(seed)
        self._lock = threading.Lock()
        eos: set[int] = set()
        for src in (getattr(model.generation_config, "eos_token_id", None),
                    getattr(model.config, "eos_token_id", None),
                    getattr(tokenizer, "eos_token_id", None) if tokenizer is not None else None):
            if isinstance(src, int):
                eos.add(src)
            elif isinstance(src, Iterable):
                eos.update(int(x) for x in src)
        self.eos_token_ids = eos

    # ------------------------------------------------------------------ weights
    def load_weights(self, weights) -> int:
        """Copy ``(name, tensor)`` pairs (or a state dict) into the model; return how many were loaded.

        Names may carry FSDP/DDP prefixes (``_fsdp_wrapped_module.``, ``module.``); unknown names
        raise ``KeyError`` so a silent no-op update cannot happen.
        """
        items = weights.items() if isinstance(weights, dict) else weights
        params = dict(self.model.named_parameters())
        params.update(dict(self.model.named_buffers()))
        n = 0
        with self._lock, self._torch.no_grad():
            for name, tensor in items:
                key = name.replace("_fsdp_wrapped_module.", "").removeprefix("module.")
                if key not in params and self.model.config.tie_word_embeddings and key == "lm_head.weight":
                    continue
                if key not in params:
                    raise KeyError(f"weight {name!r} not in the rollout model")
                params[key].copy_(tensor.to(params[key].dtype).to(params[key].device))
                n += 1
        return n

    # --------------------------------------------------------------- generation
    def generate(self, prompt_ids: list[int], sampling_params: dict | None = None) -> GenerationResult:
        """Generate a response for ``prompt_ids``; see the module docstring for the sampling keys."""
        torch = self._torch
        sp = _parse_sampling(sampling_params, self.default_max_tokens)
        stop_ids = set(sp["stop_token_ids"]) | (set() if sp["ignore_eos"] else self.eos_token_ids)
        budget = min(sp["max_tokens"], max(0, self.max_model_len - len(prompt_ids)))
        greedy = sp["temperature"] <= 0.0
        temp = 1.0 if greedy else sp["temperature"]
        gen = None
        if sp["seed"] is not None and not greedy:
            gen = torch.Generator().manual_seed(int(sp["seed"]))
        out_ids: list[int] = []
        out_lps: list[float] = []
        finish = "length"
        with self._lock, torch.no_grad():
            gen = gen or self._rng
            if budget == 0 or not prompt_ids:
                return GenerationResult([], [], "length" if prompt_ids else "stop")
            input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long)
            past = None
            for _ in range(budget):
                out = self.model(input_ids=input_ids, past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1].float() / temp
                logp = torch.log_softmax(logits, dim=-1)
                if greedy:
                    tok = int(torch.argmax(logits))
                else:
                    tok = int(self._sample(logits, sp["top_k"], sp["top_p"], gen))
                out_ids.append(tok)
                out_lps.append(float(logp[tok]))
                if tok in stop_ids:
                    finish = "stop"
                    break
                input_ids = torch.tensor([[tok]], dtype=torch.long)
        return GenerationResult(out_ids, out_lps, finish)

    def _sample(self, logits, top_k, top_p, gen):
        torch = self._torch
        logits = logits.clone()
        if top_k is not None and top_k < logits.numel():
            kth = torch.topk(logits, top_k).values[-1]
            logits[logits < kth] = float("-inf")
        if top_p is not None and top_p < 1.0:
            sorted_logits, idx = torch.sort(logits, descending=True)
            probs = torch.softmax(sorted_logits, dim=-1)
            cum = torch.cumsum(probs, dim=-1)
            drop = cum - probs >= top_p  # keep the smallest prefix whose mass reaches top_p
            sorted_logits[drop] = float("-inf")
            logits = torch.full_like(logits, float("-inf")).scatter(0, idx, sorted_logits)
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=gen)[0]


def to_token_output(result: GenerationResult, want_logprobs: bool = True):
    """Convert a :class:`GenerationResult` to verl's ``TokenOutput``."""
    from verl.workers.rollout.replica import TokenOutput

    return TokenOutput(
        token_ids=list(result.token_ids),
        log_probs=list(result.log_probs) if want_logprobs else None,
        stop_reason="completed",
        extra_fields={"finish_reason": result.finish_reason, **result.extra},
    )


class TransformersBackend:
    """In-process async backend: ``await backend.generate(request_id, prompt_ids=..., sampling_params=...)``.

    Same call shape as verl's ``LLMServerClient.generate`` / the agent loop's
    ``server_manager.generate``; returns verl's ``TokenOutput`` with ``token_ids`` and ``log_probs``
    (always filled: verl's agent loops read them for ``rollout_log_probs``).
    Extra keyword arguments that verl passes (``image_data``, ``video_data``, ...) are ignored.
    """

    def __init__(self, model_path: str | None = None, *, generator: TransformersGenerator | None = None, **kwargs):
        self.generator = generator or TransformersGenerator(model_path, **kwargs)
        self.num_requests = 0

    @property
    def tokenizer(self):
        """The tokenizer loaded with the model (``None`` if a bare model was given)."""
        return self.generator.tokenizer

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict | None = None, **kw):
        """Generate for one request in a worker thread; return verl's ``TokenOutput``."""
        self.num_requests += 1
        result = await asyncio.to_thread(self.generator.generate, list(prompt_ids), sampling_params)
        return to_token_output(result)

    def load_weights(self, weights) -> int:
        """Update the model's weights (see :meth:`TransformersGenerator.load_weights`)."""
        return self.generator.load_weights(weights)
