"""In-process CPU generation with plain transformers, behind verl's server-manager call shape.

``TransformersBackend`` answers::

    await backend.generate(request_id, *, prompt_ids=[...], sampling_params={...}, **kw) -> TokenOutput

with verl's own ``TokenOutput`` (``token_ids``, ``log_probs``, ``stop_reason``). The decoding loop
is written out here (prefill the prompt once, then one token per step with the KV cache:
``model(input_ids, past_key_values=..., use_cache=True)``) rather than delegated to
``model.generate``, so sampling and logprobs follow exactly the rules below.

Sampling parameters (verl's keys; unknown keys are ignored):

* ``temperature``: ``0`` (or less) = greedy argmax; otherwise logits are divided by it. Default 1.
* ``top_k``: keep the ``k`` most likely tokens; ``-1``, ``0`` or ``None`` = off.
* ``top_p``: nucleus sampling (smallest set of tokens whose probability reaches ``top_p``); 1 = off.
* ``max_tokens`` (alias ``max_new_tokens``): response budget; also capped by the model's
  ``max_position_embeddings`` minus the prompt length. Default: ``default_max_tokens``.
* ``seed``: seeds a per-request ``torch.Generator``, so a request's sample depends only on its
  prompt, params and seed, never on which other requests run concurrently. Without a seed the
  generator is seeded from fresh OS entropy.
* ``logprobs``: if true, ``log_probs`` holds one value per returned token, else ``None``.

Logprob convention (``logprobs_mode``, constructor argument):

* ``"raw"`` (default): ``log_softmax(raw_logits)[token]``, the log-probability under the
  temperature-1, *unfiltered* model distribution (top-k / top-p / temperature only decide which
  token is drawn). This equals a plain teacher-forced forward pass over prompt + response.
* ``"processed"``: ``log_softmax(raw_logits / T)[token]`` with the request's temperature ``T``
  (``T = 1`` for greedy), still without top-k / top-p renormalisation. Note: verl 0.9's actor
  engines (fsdp / megatron / automodel / torchtitan ``transformer_impl``) divide the logits by the
  rollout temperature before ``log_softmax``, so for ``T != 1`` *this* mode is the one that matches
  the trainer's recomputed ``old_log_probs``; for ``T = 1`` (and greedy) both modes are identical.

Stopping: generation ends after an eos token (``<|im_end|>``, ``<|endoftext|>``, the tokenizer's
eos and the model's ``eos_token_id``s) with ``stop_reason="completed"``; the eos token is included
in ``token_ids`` (as vLLM does). Hitting the budget gives ``stop_reason="length"``.

Concurrency: the torch work runs in a worker thread (``asyncio.to_thread``) under a lock, so the
event loop is never blocked; concurrent requests are decoded one after another (which also makes
their results bit-identical to sequential calls). ``update_weights`` takes the same lock.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any, Iterable, Mapping

#: Token strings always treated as end-of-sequence when the tokenizer knows them.
EOS_TOKENS = ("<|im_end|>", "<|endoftext|>")


def parse_sampling_params(sampling_params: Mapping[str, Any] | None, default_max_tokens: int) -> dict:
    """Normalise verl-style sampling params to ``temperature/top_k/top_p/max_tokens/seed/logprobs``."""
    sp = dict(sampling_params or {})
    temperature = sp.get("temperature")
    temperature = 1.0 if temperature is None else float(temperature)
    top_k = sp.get("top_k")
    top_k = None if top_k is None or int(top_k) <= 0 else int(top_k)
    top_p = sp.get("top_p")
    top_p = None if top_p is None or float(top_p) >= 1.0 else float(top_p)
    max_tokens = sp.get("max_tokens")
    if max_tokens is None:
        max_tokens = sp.get("max_new_tokens")
    max_tokens = default_max_tokens if max_tokens is None else max(0, int(max_tokens))
    seed = sp.get("seed")
    return {
        "temperature": temperature,
        "top_k": top_k,
        "top_p": top_p,
        "max_tokens": max_tokens,
        "seed": None if seed is None else int(seed),
        "logprobs": bool(sp.get("logprobs", False)),
    }


def filter_logits(logits, top_k: int | None, top_p: float | None):
    """Return a copy of 1-D ``logits`` with tokens outside the top-k / top-p set set to ``-inf``."""
    import torch

    logits = logits.clone()
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits[logits < kth] = float("-inf")
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        mass_before = torch.cumsum(probs, dim=-1) - probs
        sorted_logits[mass_before >= top_p] = float("-inf")  # the top token always survives
        logits = torch.full_like(logits, float("-inf")).scatter(0, order, sorted_logits)
    return logits


class TransformersBackend:
    """Token-in / token-out async generation with a transformers causal LM (see module docstring).

    Args:
        model_path_or_model: a Hugging Face model directory (e.g. from
            :func:`verl_metaagent.demo.tiny_model.build_tiny_model`) or a loaded causal LM.
        tokenizer: tokenizer (loaded from the directory when omitted and a path was given); only
            used for eos ids and :attr:`tokenizer` convenience.
        device: torch device for the model and inputs.
        default_max_tokens: budget of requests that give no ``max_tokens``.
        logprobs_mode: ``"raw"`` (default) or ``"processed"``; see the module docstring.
    """

    def __init__(self, model_path_or_model, tokenizer=None, device: str = "cpu", *,
                 default_max_tokens: int = 256, logprobs_mode: str = "raw"):
        import torch

        if logprobs_mode not in ("raw", "processed"):
            raise ValueError(f"logprobs_mode must be 'raw' or 'processed', not {logprobs_mode!r}")
        self.logprobs_mode = logprobs_mode

        if isinstance(model_path_or_model, (str, os.PathLike)):
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = os.fspath(model_path_or_model)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
            if tokenizer is None:
                tokenizer = AutoTokenizer.from_pretrained(path)
        else:
            model = model_path_or_model
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.default_max_tokens = int(default_max_tokens)
        self.max_model_len = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
        self.eos_token_ids = self._collect_eos_ids()
        self.num_requests = 0
        self._lock = threading.Lock()

    def _collect_eos_ids(self) -> frozenset[int]:
        """Every id that ends a response: model/generation-config eos, tokenizer eos, EOS_TOKENS."""
        ids: set[int] = set()

        def add(value):
            if value is None:
                return
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, Iterable):
                ids.update(int(v) for v in value if v is not None)

        gen_cfg = getattr(self.model, "generation_config", None)
        add(getattr(gen_cfg, "eos_token_id", None))
        add(getattr(self.model.config, "eos_token_id", None))
        tok = self.tokenizer
        if tok is not None:
            add(tok.eos_token_id)
            vocab = tok.get_vocab()
            add([vocab[t] for t in EOS_TOKENS if t in vocab])
        return frozenset(ids)

    # ------------------------------------------------------------------ generation
    async def generate(self, request_id: str, *, prompt_ids: list[int],
                       sampling_params: Mapping[str, Any] | None = None, **kw: Any):
        """Generate one response in a worker thread; return verl's ``TokenOutput``.

        Extra keyword arguments verl passes (``image_data``, ``video_data``, ...) are ignored.
        """
        from verl.workers.rollout.replica import TokenOutput

        self.num_requests += 1
        params = parse_sampling_params(sampling_params, self.default_max_tokens)
        token_ids, log_probs, stop_reason = await asyncio.to_thread(
            self.generate_sync, list(prompt_ids), params)
        return TokenOutput(
            token_ids=token_ids,
            log_probs=log_probs if params["logprobs"] else None,
            stop_reason=stop_reason,
            extra_fields={"request_id": request_id},
        )

    def generate_sync(self, prompt_ids: list[int], params: Mapping[str, Any]) -> tuple[list[int], list[float], str]:
        """Blocking decode of ``prompt_ids`` with parsed ``params`` -> (token ids, logprobs, stop reason)."""
        import torch

        if not prompt_ids:
            raise ValueError("prompt_ids is empty")
        budget = min(params["max_tokens"], max(0, self.max_model_len - len(prompt_ids)))
        greedy = params["temperature"] <= 0.0
        generator = torch.Generator(device="cpu")
        if params["seed"] is None:
            generator.seed()
        else:
            generator.manual_seed(params["seed"])
        out_ids: list[int] = []
        out_lps: list[float] = []
        stop_reason = "length"
        with self._lock, torch.no_grad():
            input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=self.device)
            past = None
            for _ in range(budget):
                out = self.model(input_ids=input_ids, past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1].float().cpu()
                if greedy:
                    token = int(torch.argmax(logits))
                else:
                    scaled = filter_logits(logits / params["temperature"], params["top_k"], params["top_p"])
                    probs = torch.softmax(scaled, dim=-1)
                    token = int(torch.multinomial(probs, 1, generator=generator)[0])
                out_ids.append(token)
                lp_logits = logits if greedy or self.logprobs_mode == "raw" else logits / params["temperature"]
                out_lps.append(float(torch.log_softmax(lp_logits, dim=-1)[token]))
                if token in self.eos_token_ids:
                    stop_reason = "completed"
                    break
                input_ids = torch.tensor([[token]], dtype=torch.long, device=self.device)
        return out_ids, out_lps, stop_reason

    # --------------------------------------------------------------------- weights
    def update_weights(self, state_dict) -> int:
        """Copy new weights into the model in place; return the number of tensors copied.

        ``state_dict`` is a mapping or an iterable of ``(name, tensor)`` pairs. FSDP / DDP name
        prefixes (``_fsdp_wrapped_module.``, ``module.``) are stripped; ``lm_head.weight`` is skipped
        when embeddings are tied; any other unknown name raises ``KeyError`` (no silent no-op).
        Runs under the generation lock, so no request sees half-updated weights.
        """
        import torch

        items = state_dict.items() if isinstance(state_dict, Mapping) else state_dict
        targets = dict(self.model.named_parameters())
        targets.update(dict(self.model.named_buffers()))
        tied = bool(getattr(self.model.config, "tie_word_embeddings", False))
        copied = 0
        with self._lock, torch.no_grad():
            for name, tensor in items:
                key = name.replace("_fsdp_wrapped_module.", "")
                while key.startswith("module."):
                    key = key[len("module."):]
                if key not in targets:
                    if tied and key == "lm_head.weight":
                        continue
                    raise KeyError(f"weight {name!r} is not a parameter of the rollout model")
                dst = targets[key]
                if tuple(dst.shape) != tuple(tensor.shape):
                    raise ValueError(f"weight {name!r}: shape {tuple(tensor.shape)} != {tuple(dst.shape)}")
                dst.copy_(tensor.detach().to(device=dst.device, dtype=dst.dtype))
                copied += 1
        return copied

    #: Alias (verl's rollout naming).
    load_weights = update_weights
