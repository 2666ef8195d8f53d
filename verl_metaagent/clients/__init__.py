"""Policy clients: one interface for every LLM that designs and executes MetaAgent-X scripts.

``await client.complete(request_id, messages, sampling, previous=None) -> Completion``

* :class:`~.token_client.TokenPolicyClient` wraps anything with verl's server-manager call shape
  (``generate(request_id, *, prompt_ids, sampling_params) -> TokenOutput``): verl's rollout
  servers during training, and our CPU / scripted backends. It returns token ids and logprobs,
  so calls become training rows.
* :class:`~.openai_client.OpenAIChatClient` talks to any OpenAI-compatible ``/v1/chat/completions``
  endpoint (a vLLM/SGLang server of a checkpoint, or a hosted teacher) with retries, a concurrency
  limit and a token/cost tally. It returns text and token counts only (no ids), which is all that
  distillation, evaluation and ``metaagent solve`` need.

The tree runner (:mod:`verl_metaagent.rollout.tree_runner`) only speaks this interface.
"""

from __future__ import annotations

from verl_metaagent.utils.lazy import lazy_exports

from verl_metaagent.clients.base import Completion, PolicyClient, UsageTally

__all__ = ["Completion", "PolicyClient", "UsageTally", "TokenPolicyClient", "OpenAIChatClient", "EndpointError"]

_WHERE = {"TokenPolicyClient": "token_client", "OpenAIChatClient": "openai_client", "EndpointError": "openai_client"}


__getattr__ = lazy_exports(__name__, _WHERE)
