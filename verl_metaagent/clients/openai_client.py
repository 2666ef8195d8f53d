"""An async client for OpenAI-compatible ``/v1/chat/completions`` endpoints.

Works with vLLM / SGLang servers of a checkpoint (``vllm serve ckpt``), with hosted teachers
(DeepSeek, OpenAI, ...) and with the loopback test server
(:mod:`verl_metaagent.testing.openai_server`). Long jobs get:

* a concurrency limit (``max_concurrency`` requests in flight);
* retries with exponential backoff and jitter on 408/409/425/429/5xx, timeouts and connection
  errors, honouring ``Retry-After``; other 4xx fail at once with the endpoint's message;
* a *refused* connection (nothing listens at the address: the server is not started or the URL
  is wrong) is retried only for ``connect_grace`` seconds (default 2: a server that is just
  coming up), then fails with a message that says so, instead of backing off for a minute;
* a :class:`~verl_metaagent.clients.base.UsageTally` of calls, tokens, retries, failures and cost
  (``price_per_mtok=(input, output)`` in USD per million tokens).

The API key is read from the environment variable named by ``api_key_env`` (never from config
files, so it does not end up in logs or checkpoints).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import random
import time
from urllib.parse import urlsplit
from typing import Any, Optional, Sequence

from verl_metaagent.clients.base import Completion, UsageTally

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})
_FINISH_TO_STOP = {"stop": "completed", "length": "length", "eos": "completed"}


class EndpointError(RuntimeError):
    """The endpoint refused a request for good (bad request, auth, unknown model) or retries ran out."""

    def __init__(self, message: str, *, status: Optional[int] = None):
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


class _Refused(Exception):
    """The endpoint's address refused the TCP connection."""


def connection_refused(exc: BaseException) -> bool:
    """True if ``exc`` (or an exception it was raised from) is a refused TCP connection."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
            return True
        if "connection refused" in str(exc).lower():
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def backoff_delay(attempt: int, *, base: float, cap: float, retry_after: Optional[float] = None,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before retry ``attempt`` (1-based): ``Retry-After`` if given, else full-jitter backoff."""
    if retry_after is not None and retry_after >= 0:
        return min(float(retry_after), cap)
    upper = min(cap, base * (2 ** (attempt - 1)))
    return (rng or random).uniform(upper / 2, upper)


def chat_request_body(model: str, messages: Sequence[dict], sampling: dict, extra_body: Optional[dict] = None) -> dict:
    """The JSON body of a chat-completions request from verl-style sampling params.

    ``temperature``, ``top_p``, ``max_tokens``, ``seed`` and ``stop`` map one to one; ``top_k`` (not
    part of OpenAI's API) is sent only when > 0 and ``repetition_penalty`` only when set, both of
    which vLLM's and SGLang's OpenAI servers accept; ``logprobs`` is not requested.
    """
    body: dict[str, Any] = {"model": model,
                            "messages": [{"role": m["role"], "content": m["content"]} for m in messages]}
    for key in ("temperature", "top_p", "max_tokens", "seed", "stop", "repetition_penalty"):
        if sampling.get(key) is not None:
            body[key] = sampling[key]
    if int(sampling.get("top_k", -1) or -1) > 0:
        body["top_k"] = int(sampling["top_k"])
    if extra_body:
        body.update(extra_body)
    return body


def parse_chat_response(payload: Any, messages: list[dict]) -> Completion:
    """A :class:`Completion` from a chat-completions JSON payload (raises ``ValueError`` if malformed)."""
    try:
        choice = payload["choices"][0]
        content = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed chat-completions response: {str(payload)[:300]}") from exc
    if not isinstance(content, str):
        raise ValueError(f"message.content is not a string: {type(content).__name__}")
    usage = payload.get("usage") or {}
    finish = choice.get("finish_reason")
    return Completion(
        text=content,
        messages=messages,
        stop_reason=_FINISH_TO_STOP.get(finish, finish),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


class OpenAIChatClient:
    """Policy client for an OpenAI-compatible endpoint; see the module docstring.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1`` (the part before ``/chat/completions``).
        model: the served model name.
        api_key_env: environment variable holding the key (unset = no ``Authorization`` header).
        max_concurrency: requests in flight at most.
        max_retries: retries per request after the first attempt.
        timeout: seconds per attempt.
        backoff_base / backoff_cap: exponential backoff parameters (seconds).
        connect_grace: seconds a refused connection is retried before the request fails.
        price_per_mtok: ``(input, output)`` USD per million tokens for the cost tally.
        extra_body: extra JSON fields for every request (e.g. ``{"chat_template_kwargs": {...}}``).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: Optional[str] = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        max_retries: int = 6,
        timeout: float = 600.0,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        price_per_mtok: tuple[float, float] = (0.0, 0.0),
        extra_body: Optional[dict] = None,
        seed: Optional[int] = None,
        connect_grace: float = 2.0,
    ):
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https://, got {base_url!r} (e.g. http://127.0.0.1:8000/v1)")
        if not model:
            raise ValueError("model is empty: pass the served model name (GET <base_url>/models lists them)")
        if max_concurrency < 1 or max_retries < 0 or timeout <= 0:
            raise ValueError("need max_concurrency >= 1, max_retries >= 0 and timeout > 0")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.price_per_mtok = price_per_mtok
        self.extra_body = dict(extra_body or {})
        self.connect_grace = max(0.0, float(connect_grace))
        self.usage = UsageTally()
        self._rng = random.Random(seed)
        self._http = None
        self._loop = None
        self._semaphore: Optional[asyncio.Semaphore] = None

    # ------------------------------------------------------------------ plumbing
    def _session(self):
        import httpx

        loop = asyncio.get_running_loop()
        if self._http is None or self._loop is not loop:
            headers = {"Content-Type": "application/json"}
            if self.api_key:
                headers["Authorization"] = f"Bearer {self.api_key}"
            limits = httpx.Limits(max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency)
            self._http = httpx.AsyncClient(headers=headers, timeout=self.timeout, limits=limits)
            self._loop = loop
            self._semaphore = asyncio.Semaphore(self.max_concurrency)
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> "OpenAIChatClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    def refused_message(self) -> str:
        """The error for an endpoint whose address refuses connections: what is wrong and the fix."""
        address, port = _refused_hint(self.url)
        return (
            f"cannot connect to {self.url}: connection refused for {self.connect_grace:g} s (nothing is listening at "
            f"{address}). Start the server first (e.g. `vllm serve MODEL --port {port}`) and wait until "
            f"GET {self.url.rsplit('/chat/completions', 1)[0]}/models answers, or fix --base-url."
        )

    def cost(self, completion: Completion) -> float:
        """USD cost of one completion under ``price_per_mtok``."""
        price_in, price_out = self.price_per_mtok
        return (completion.prompt_tokens * price_in + completion.completion_tokens * price_out) / 1e6

    async def _attempt(self, http, body: dict, messages: list[dict]) -> Completion:
        import httpx

        try:
            response = await http.post(self.url, content=json.dumps(body))
        except httpx.ConnectError as exc:
            if connection_refused(exc):
                raise _Refused(str(exc)) from exc
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Retryable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in RETRYABLE_STATUS:
            raise _Retryable(f"HTTP {response.status_code}: {response.text[:200]}", _retry_after(response.headers))
        if response.status_code >= 400:
            raise EndpointError(
                f"{self.url} answered HTTP {response.status_code}: {response.text[:500]}"
                + (" (check the key in the environment variable)" if response.status_code in (401, 403) else ""),
                status=response.status_code,
            )
        try:
            return parse_chat_response(response.json(), messages)
        except ValueError as exc:
            raise _Retryable(str(exc)) from exc

    # ------------------------------------------------------------------ public
    async def complete(
        self, request_id: str, messages: Sequence[dict], sampling: dict, *, previous: Optional[Completion] = None
    ) -> Completion:
        """One chat completion with retries; raises :class:`EndpointError` when it cannot succeed."""
        messages = [dict(m) for m in messages]
        body = chat_request_body(self.model, messages, sampling, self.extra_body)
        http = self._session()
        last = ""
        refused_since: Optional[float] = None
        async with self._semaphore:
            attempt = 0
            while attempt <= self.max_retries:
                try:
                    completion = await self._attempt(http, body, messages)
                    self.usage.add(completion, self.cost(completion))
                    return completion
                except _Refused:
                    now = time.monotonic()
                    refused_since = now if refused_since is None else refused_since
                    if now - refused_since >= self.connect_grace:
                        self.usage.add_failure()
                        raise EndpointError(self.refused_message()) from None
                    self.usage.add_retry()
                    await asyncio.sleep(min(0.25, self.connect_grace))
                    continue  # refusals have their own budget (connect_grace), not max_retries
                except _Retryable as exc:
                    last = str(exc)
                    if attempt == self.max_retries:
                        break
                    self.usage.add_retry()
                    await asyncio.sleep(
                        backoff_delay(attempt + 1, base=self.backoff_base, cap=self.backoff_cap,
                                      retry_after=exc.retry_after, rng=self._rng)
                    )
                    attempt += 1
                except EndpointError:
                    self.usage.add_failure()
                    raise
        self.usage.add_failure()
        raise EndpointError(
            f"{self.url}: request {request_id} failed after {self.max_retries + 1} attempts; last error: {last}")


def _refused_hint(url: str) -> tuple[str, str]:
    """``("host:port", "port")`` of ``url``."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}", str(port)


def _retry_after(headers) -> Optional[float]:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
