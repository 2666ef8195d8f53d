"""A scripted LLM backend for deterministic tests: returns given texts, tokenised for real.

``ScriptedBackend(tokenizer, responses)`` answers ``generate(request_id, *, prompt_ids,
sampling_params, **kw)`` (verl's server-manager call shape) with verl's ``TokenOutput``:
``token_ids`` = the real tokenisation of the chosen text followed by the eos id, ``log_probs`` =
:data:`FAKE_LOGPROB` for every token, ``stop_reason="completed"`` (``"length"`` if the request's
``max_tokens`` cut the response short).

``responses`` may be

* a list of texts, served in call order; once used up, ``cycle=True`` starts again from the
  first, otherwise the call raises :class:`ScriptExhausted`;
* a dict ``{substring: text}``: the first key (insertion order) contained in the decoded prompt
  wins; ``default`` answers when no key matches, otherwise :class:`NoScriptedMatch` is raised;
* a callable ``f(prompt_text) -> text``.

``errors`` is an optional callable ``f(prompt_text, call_index) -> Exception | None``; a returned
exception is raised by that call (after the latency), to simulate backend failures. ``latency``
is an ``asyncio.sleep`` per call. Every call, failed or not, is appended to :attr:`calls` as
``(request_id, prompt_text, sampling_params)`` before anything can fail.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Mapping, Sequence

#: Log-prob reported for every scripted token.
FAKE_LOGPROB = -0.1


class ScriptExhausted(RuntimeError):
    """A list script ran out of responses (and ``cycle`` is off)."""


class NoScriptedMatch(LookupError):
    """No key of a dict script occurs in the prompt (and no ``default`` was given)."""


class ScriptedBackend:
    """Deterministic backend returning scripted texts; see the module docstring.

    Args:
        tokenizer: the real tokenizer (prompts are decoded with it, responses encoded with it).
        responses: list / dict / callable, as described in the module docstring.
        latency: seconds to ``asyncio.sleep`` in every call.
        errors: ``f(prompt_text, call_index) -> Exception | None`` failure injector.
        cycle: wrap around a list script instead of raising :class:`ScriptExhausted`.
        default: reply of a dict script when no key matches.
    """

    def __init__(self, tokenizer, responses: Sequence[str] | Mapping[str, str] | Callable[[str], str], *,
                 latency: float = 0.0, errors: Callable[[str, int], BaseException | None] | None = None,
                 cycle: bool = False, default: str | None = None):
        if isinstance(responses, str) or not (
                isinstance(responses, (list, tuple, Mapping)) or callable(responses)):
            raise TypeError("responses must be a list of texts, a dict {substring: text} or a callable")
        if isinstance(responses, (list, tuple)) and not responses:
            raise ValueError("responses list is empty")
        if errors is not None and not callable(errors):
            raise TypeError("errors must be a callable(prompt_text, call_index) -> Exception | None")
        self.tokenizer = tokenizer
        self.responses = responses
        self.latency = float(latency)
        self.errors = errors
        self.cycle = bool(cycle)
        self.default = default
        self.calls: list[tuple[str, str, dict]] = []
        self.replies: list[str | None] = []
        self._next = 0
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ValueError("the tokenizer has no eos token")
        self.eos_token_id = int(eos)

    def _choose(self, prompt_text: str) -> str:
        """Pick the reply text for one call (advances the list position)."""
        script = self.responses
        if isinstance(script, (list, tuple)):
            if self._next >= len(script) and not self.cycle:
                raise ScriptExhausted(f"all {len(script)} scripted responses were used")
            text = script[self._next % len(script)]
            self._next += 1
            return text
        if isinstance(script, Mapping):
            for key, text in script.items():
                if key in prompt_text:
                    return text
            if self.default is not None:
                return self.default
            raise NoScriptedMatch(f"no scripted key occurs in the prompt (keys: {list(script)})")
        return script(prompt_text)

    def encode(self, text: str) -> list[int]:
        """Token ids of a reply: the tokenizer's encoding of ``text`` plus the eos id."""
        return list(self.tokenizer.encode(text, add_special_tokens=False)) + [self.eos_token_id]

    async def generate(self, request_id: str, *, prompt_ids: list[int],
                       sampling_params: Mapping[str, Any] | None = None, **kw: Any):
        """Answer one call with the scripted text as verl's ``TokenOutput`` (or raise an injected error)."""
        from verl.workers.rollout.replica import TokenOutput

        index = len(self.calls)
        params = dict(sampling_params or {})
        prompt_text = self.tokenizer.decode(list(prompt_ids), skip_special_tokens=False)
        self.calls.append((request_id, prompt_text, params))
        self.replies.append(None)
        if self.latency > 0:
            await asyncio.sleep(self.latency)
        if self.errors is not None:
            error = self.errors(prompt_text, index)
            if error is not None:
                raise error
        text = self._choose(prompt_text)
        self.replies[index] = text
        ids = self.encode(text)
        stop_reason = "completed"
        limit = params.get("max_tokens", params.get("max_new_tokens"))
        if limit is not None and len(ids) > int(limit):
            ids, stop_reason = ids[: int(limit)], "length"
        return TokenOutput(token_ids=ids, log_probs=[FAKE_LOGPROB] * len(ids), stop_reason=stop_reason,
                           extra_fields={"request_id": request_id, "text": text})
