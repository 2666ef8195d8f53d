"""OpenAIChatClient against the loopback FakeOpenAIServer: bodies, retries, failures, limits, tally."""

import asyncio
import threading
import time

import pytest

from verl_metaagent.clients import EndpointError, OpenAIChatClient
from verl_metaagent.clients.openai_client import backoff_delay, chat_request_body
from verl_metaagent.testing.openai_server import FakeOpenAIServer, Reply

MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "what is one plus one"}]


def client_for(server, **kw):
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("backoff_cap", 0.01)
    return OpenAIChatClient(server.base_url, "fake-model", api_key_env="FAKE_KEY_FOR_TEST", **kw)


async def test_success_maps_body_and_counts_usage(monkeypatch):
    monkeypatch.setenv("FAKE_KEY_FOR_TEST", "sk-test")
    with FakeOpenAIServer(lambda body: "two words") as server:
        client = client_for(server, price_per_mtok=(1.0, 2.0))
        out = await client.complete(
            "r1", MSGS, {"temperature": 0.5, "top_p": 0.9, "top_k": 20, "max_tokens": 64, "seed": 7, "logprobs": True})
        await client.aclose()
    assert out.text == "two words"
    assert out.stop_reason == "completed"
    assert (out.prompt_tokens, out.completion_tokens) == (2 + 5, 2)
    body = server.requests[0]
    assert body == {"model": "fake-model", "messages": MSGS, "temperature": 0.5, "top_p": 0.9, "max_tokens": 64,
                    "seed": 7, "top_k": 20}
    tally = client.usage.as_dict()
    assert tally["calls"] == 1 and tally["total_tokens"] == 9 and tally["retries"] == 0
    assert tally["cost_usd"] == pytest.approx((7 * 1.0 + 2 * 2.0) / 1e6)


def test_request_body_drops_unset_and_nonpositive_top_k():
    body = chat_request_body("m", MSGS, {"temperature": 0.0, "top_k": -1, "max_tokens": None})
    assert body == {"model": "m", "messages": MSGS, "temperature": 0.0}


async def test_retries_429_500_malformed_then_succeeds():
    script = [Reply(status=429, retry_after=0), Reply(status=500), Reply(raw_body="<html>oops</html>"),
              Reply(text="ok")]
    with FakeOpenAIServer(lambda body: script.pop(0)) as server:
        client = client_for(server)
        out = await client.complete("r", MSGS, {})
        await client.aclose()
    assert out.text == "ok"
    assert len(server.requests) == 4
    assert client.usage.retries == 3 and client.usage.calls == 1 and client.usage.failures == 0


async def test_slow_reply_times_out_and_is_retried():
    replies = [Reply(text="late", delay=1.5), Reply(text="fast")]
    with FakeOpenAIServer(lambda body: replies.pop(0)) as server:
        client = client_for(server, timeout=0.3)
        out = await client.complete("r", MSGS, {})
        await client.aclose()
    assert out.text == "fast" and client.usage.retries == 1


async def test_client_error_is_not_retried_and_names_status():
    with FakeOpenAIServer(lambda body: Reply(status=400, text="unknown model")) as server:
        client = client_for(server)
        with pytest.raises(EndpointError, match="HTTP 400.*unknown model") as info:
            await client.complete("r", MSGS, {})
        await client.aclose()
    assert info.value.status == 400 and len(server.requests) == 1 and client.usage.failures == 1


async def test_retries_exhausted_raise_with_last_error():
    with FakeOpenAIServer(lambda body: Reply(status=503, text="overloaded")) as server:
        client = client_for(server, max_retries=2)
        with pytest.raises(EndpointError, match="after 3 attempts.*503"):
            await client.complete("r", MSGS, {})
        await client.aclose()
    assert len(server.requests) == 3 and client.usage.retries == 2 and client.usage.failures == 1


async def test_concurrency_limit_is_respected():
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def responder(body):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return "x"

    with FakeOpenAIServer(responder) as server:
        client = client_for(server, max_concurrency=3)
        outs = await asyncio.gather(*(client.complete(f"r{i}", MSGS, {}) for i in range(12)))
        await client.aclose()
    assert [o.text for o in outs] == ["x"] * 12
    assert state["peak"] == 3


def test_backoff_grows_and_honours_retry_after():
    import random

    rng = random.Random(0)
    d1 = backoff_delay(1, base=1.0, cap=60, rng=rng)
    d4 = backoff_delay(4, base=1.0, cap=60, rng=rng)
    assert 0.5 <= d1 <= 1.0 and 4.0 <= d4 <= 8.0
    assert backoff_delay(9, base=1.0, cap=10, rng=rng) <= 10
    assert backoff_delay(3, base=1.0, cap=60, retry_after=2.5) == 2.5


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match="http"):
        OpenAIChatClient("localhost:8000", "m")
    with pytest.raises(ValueError, match="model"):
        OpenAIChatClient("http://127.0.0.1:1/v1", "")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_refused_connection_fails_within_seconds_with_a_clear_message():
    port = _free_port()  # bound and released: nothing listens there
    client = OpenAIChatClient(f"http://127.0.0.1:{port}/v1", "m", api_key_env=None)  # default retries and backoff
    started = time.monotonic()
    with pytest.raises(EndpointError) as info:
        await client.complete("r", MSGS, {})
    elapsed = time.monotonic() - started
    await client.aclose()
    assert elapsed < 10.0, f"a refused connection took {elapsed:.1f} s to fail"
    message = str(info.value)
    assert "connection refused" in message and f"127.0.0.1:{port}" in message
    assert f"vllm serve MODEL --port {port}" in message and "--base-url" in message
    assert client.usage.failures == 1 and client.usage.calls == 0


async def test_server_that_starts_within_the_grace_period_is_reached():
    port = _free_port()
    ready = threading.Event()
    holder = {}

    def start_late():
        time.sleep(0.3)
        holder["server"] = FakeOpenAIServer(lambda body: "up", port=port).start()
        ready.set()

    threading.Thread(target=start_late, daemon=True).start()
    client = OpenAIChatClient(f"http://127.0.0.1:{port}/v1", "m", api_key_env=None, connect_grace=30.0)
    try:
        out = await client.complete("r", MSGS, {})
    finally:
        await client.aclose()
        ready.wait(5)
        holder["server"].stop()
    assert out.text == "up" and client.usage.retries >= 1


def test_refusal_is_recognised_through_the_exception_chain():
    from verl_metaagent.clients.openai_client import connection_refused

    try:
        try:
            raise ConnectionRefusedError(111, "refused")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert connection_refused(outer)
    assert not connection_refused(TimeoutError("read timed out"))


def test_request_body_carries_stop_and_repetition_penalty():
    body = chat_request_body("m", MSGS, {"stop": ["</answer>"], "repetition_penalty": 1.1, "top_k": 20})
    assert (body["stop"], body["repetition_penalty"], body["top_k"]) == (["</answer>"], 1.1, 20)
