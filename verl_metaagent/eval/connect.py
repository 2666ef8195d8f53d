"""Build the policy client an evaluation or ``metaagent solve`` talks to.

Either an OpenAI-compatible endpoint (``base_url`` + ``model``: a ``vllm serve`` of a checkpoint,
SGLang, a hosted model) or a local Hugging Face checkpoint decoded on CPU with
:class:`~verl_metaagent.backends.TransformersBackend` (``local_model``; small models only).
"""

from __future__ import annotations

from verl_metaagent.clients.cli_flags import parse_extra_body  # noqa: F401  (re-exported)

import os
from typing import Any, Optional

__all__ = ["make_client", "parse_extra_body", "close_client"]


def make_client(
    *,
    base_url: Optional[str] = None,
    model: Optional[str] = None,
    local_model: Optional[str] = None,
    api_key_env: Optional[str] = "OPENAI_API_KEY",
    max_concurrency: int = 16,
    max_retries: int = 6,
    timeout: float = 600.0,
    extra_body: Optional[dict] = None,
    disable_thinking: bool = False,
    max_tokens: int = 4096,
) -> Any:
    """A :class:`~verl_metaagent.clients.PolicyClient` for an endpoint or a local CPU model.

    Args:
        base_url / model: endpoint (``http://host:port/v1``) and served model name.
        local_model: a Hugging Face model directory to run on CPU instead.
        api_key_env: environment variable holding the endpoint's key (never a literal key).
        extra_body: extra JSON fields of every endpoint request.
        disable_thinking: Qwen3 thinking off (``chat_template_kwargs.enable_thinking=false``), as
            the public MetaAgent-X release runs its model.
    Raises ``ValueError`` naming the flag when the choice is missing or ambiguous.
    """
    if bool(base_url) == bool(local_model):
        raise ValueError("pass exactly one of --base-url URL (with --model NAME) or --local-model DIR")
    if local_model:
        if not os.path.isdir(local_model) or not os.path.exists(os.path.join(local_model, "config.json")):
            raise ValueError(f"--local-model {local_model!r} is not a Hugging Face model folder (no config.json)")
        from verl_metaagent.backends import TransformersBackend
        from verl_metaagent.clients import TokenPolicyClient

        backend = TransformersBackend(local_model, default_max_tokens=max_tokens)
        kwargs = {"enable_thinking": False} if disable_thinking else None
        return TokenPolicyClient(backend, backend.tokenizer, kwargs)
    if not model:
        raise ValueError("--base-url needs --model (the served model name; GET <base-url>/models lists them)")
    from verl_metaagent.clients import OpenAIChatClient

    body = dict(extra_body or {})
    if disable_thinking:
        body.setdefault("chat_template_kwargs", {})["enable_thinking"] = False
    return OpenAIChatClient(base_url, model, api_key_env=api_key_env, max_concurrency=max_concurrency,
                            max_retries=max_retries, timeout=timeout, extra_body=body or None)


async def close_client(client: Any) -> None:
    """Close the client's connections if it has any."""
    aclose = getattr(client, "aclose", None)
    if aclose is not None:
        await aclose()
