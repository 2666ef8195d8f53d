"""Command-line flags shared by every tool that talks to an OpenAI-compatible endpoint
(``metaagent solve/eval``, ``python -m verl_metaagent.distill``)."""

from __future__ import annotations

import json
from typing import Optional


def add_retry_flags(group, *, max_concurrency: int) -> None:
    """``--max-concurrency``, ``--max-retries``, ``--timeout``
    (see :class:`~verl_metaagent.clients.OpenAIChatClient`)."""
    group.add_argument("--max-concurrency", type=int, default=max_concurrency,
                       help="endpoint requests in flight (default %(default)s)")
    group.add_argument("--max-retries", type=int, default=6,
                       help="retries per request on 429/5xx/timeouts (default %(default)s)")
    group.add_argument("--timeout", type=float, default=600.0, help="seconds per request attempt (default %(default)s)")


def parse_extra_body(text: Optional[str]) -> dict:
    """``--extra-body`` JSON object (e.g. ``{"chat_template_kwargs": {"enable_thinking": false}}``);
    ValueError names the flag."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--extra-body is not JSON ({exc.msg}); e.g. --extra-body '{{\"top_k\": 20}}'") from None
    if not isinstance(value, dict):
        raise ValueError("--extra-body must be a JSON object, e.g. '{\"top_k\": 20}'")
    return value
