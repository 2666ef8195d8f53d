"""A scripted LLM backend for deterministic tests: returns given texts, tokenised for real.

``ScriptedBackend(tokenizer, responses)`` answers ``generate(request_id, *, prompt_ids,
sampling_params, **kw)`` (verl's server-manager call shape) with a ``TokenOutput`` whose
``token_ids`` are the real tokenisation of the chosen text (plus the eos token unless
``append_eos=False``) and whose ``log_probs`` are deterministic fake values (a pure function of
token id and position, in [-1, -0.01]).

``responses`` may be

* a list of texts: answered in call order (``cycle=True`` wraps around; otherwise the last text
  repeats once the list is used up);
* a dict ``{substring: text}``: the first key (in insertion order) found in the decoded prompt
  wins; ``default`` answers when none matches (else :class:`BackendError`);
* a callable ``f(prompt_text) -> text``.

Failure injection: ``errors`` is a set of 0-based call indices, or a callable
``f(call_index, prompt_text) -> bool``, for which the call raises :class:`BackendError` (after
the latency). ``latency`` is a fixed ``asyncio.sleep`` per call. Every call is recorded in
``calls`` as :class:`ScriptedCall`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping


class BackendError(RuntimeError):
    """Raised by a backend call that failed (here: injected on purpose)."""


@dataclass
class ScriptedCall:
    """One recorded call: its index, request id, decoded prompt, reply text (None if it failed)."""

    index: int
    request_id: str
    prompt_text: str
    response_text: str | None
    sampling_params: dict


def fake_logprob(token_id: int, position: int) -> float:
    """Deterministic stand-in logprob of ``token_id`` at response ``position`` (in [-1, -0.01])."""
    return -(((token_id * 31 + position * 17) % 100) + 1) / 100.0


class ScriptedBackend:
    """Deterministic backend returning scripted texts; see the module docstring."""

    def __init__(self, tokenizer, responses: list[str] | Mapping[str, str] | Callable[[str], str], *,
                 default: str | None = None, cycle: bool = False, append_eos: bool = True,
                 latency: float = 0.0, errors: Iterable[int] | Callable[[int, str], bool] | None = None,
                 error_message: str = "injected backend failure"):
        if not (isinstance(responses, (list, tuple, Mapping)) or callable(responses)):
            raise TypeError("responses must be a list, a dict {substring: text} or a callable(prompt_text) -> text")
        if isinstance(responses, (list, tuple)) and not responses:
            raise ValueError("responses list is empty")
        self.tokenizer = tokenizer
        self.responses = responses
        self.default = default
        self.cycle = cycle
        self.append_eos = append_eos
        self.latency = float(latency)
        self.error_message = error_message
        self._errors = errors if callable(errors) else frozenset(errors or ())
        self.calls: list[ScriptedCall] = []
        self._list_pos = 0

    def _should_fail(self, index: int, prompt_text: str) -> bool:
        if callable(self._errors):
            return bool(self._errors(index, prompt_text))
        return index in self._errors

    def _pick(self, prompt_text: str) -> str:
        r = self.responses
        if isinstance(r, (list, tuple)):
            i = self._list_pos % len(r) if self.cycle else min(self._list_pos, len(r) - 1)
            self._list_pos += 1
            return r[i]
        if isinstance(r, Mapping):
            for key, text in r.items():
                if key in prompt_text:
                    return text
            if self.default is not None:
                return self.default
            raise BackendError(f"no scripted response matches the prompt (keys: {list(r)})")
        return r(prompt_text)

    def encode_response(self, text: str) -> list[int]:
        """Token ids for a reply text (eos appended unless ``append_eos=False``)."""
        ids = list(self.tokenizer.encode(text, add_special_tokens=False))
        if self.append_eos and self.tokenizer.eos_token_id is not None:
            ids.append(int(self.tokenizer.eos_token_id))
        return ids

    async def generate(self, request_id: str, *, prompt_ids: list[int], sampling_params: dict | None = None,
                       **kw: Any):
        """Answer one call with the scripted text as verl's ``TokenOutput`` (or raise :class:`BackendError`)."""
        from verl.workers.rollout.replica import TokenOutput

        index = len(self.calls)
        prompt_text = self.tokenizer.decode(list(prompt_ids), skip_special_tokens=False)
        record = ScriptedCall(index, request_id, prompt_text, None, dict(sampling_params or {}))
        self.calls.append(record)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self._should_fail(index, prompt_text):
            raise BackendError(f"{self.error_message} (call {index}, request {request_id})")
        text = self._pick(prompt_text)
        record.response_text = text
        ids = self.encode_response(text)
        max_tokens = (sampling_params or {}).get("max_tokens", (sampling_params or {}).get("max_new_tokens"))
        finish = "stop"
        if max_tokens is not None and len(ids) > int(max_tokens):
            ids, finish = ids[: int(max_tokens)], "length"
        return TokenOutput(
            token_ids=ids,
            log_probs=[fake_logprob(t, i) for i, t in enumerate(ids)],
            stop_reason="completed",
            extra_fields={"finish_reason": finish},
        )
