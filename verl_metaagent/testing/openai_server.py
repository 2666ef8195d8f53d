"""A scripted OpenAI-compatible chat server on 127.0.0.1, for tests and offline demos.

``with FakeOpenAIServer(responder) as server: client = OpenAIChatClient(server.base_url, "fake")``

``responder(request_body) -> str | Reply`` decides every answer from the request JSON (the
messages, sampling params, model). A :class:`Reply` can also carry an HTTP error status, a
delay (slow replies, timeouts), a ``Retry-After`` header or a raw malformed body, so tests can
exercise retries and backoff. Every request body is recorded in :attr:`FakeOpenAIServer.requests`.
Token counts in ``usage`` are whitespace word counts (deterministic, tokenizer-free).

It also answers ``GET /v1/models``. Runs in a daemon thread (stdlib ``ThreadingHTTPServer``),
so it works from sync and async tests alike.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional, Union


@dataclass
class Reply:
    """One scripted answer: text, or an HTTP error, after an optional delay."""

    text: str = ""
    status: int = 200
    delay: float = 0.0
    retry_after: Optional[float] = None
    raw_body: Optional[str] = None
    finish_reason: str = "stop"
    headers: dict = field(default_factory=dict)


Responder = Callable[[dict], Union[str, Reply]]


def _words(text: str) -> int:
    return len(text.split())


class FakeOpenAIServer:
    """Loopback chat-completions server driven by ``responder``; see the module docstring."""

    def __init__(self, responder: Responder, *, model: str = "fake-model", host: str = "127.0.0.1", port: int = 0):
        self.responder = responder
        self.model = model
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeOpenAIServer":
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _answer(self, body: dict) -> tuple[int, dict, str]:
        with self._lock:
            self.requests.append(body)
        reply = self.responder(body)
        if isinstance(reply, str):
            reply = Reply(text=reply)
        if reply.delay:
            time.sleep(reply.delay)
        headers = dict(reply.headers)
        if reply.retry_after is not None:
            headers["Retry-After"] = str(reply.retry_after)
        if reply.raw_body is not None:
            return reply.status, headers, reply.raw_body
        if reply.status >= 400:
            return reply.status, headers, json.dumps({"error": {"message": reply.text or "scripted error",
                                                                "code": reply.status}})
        prompt_words = sum(_words(str(m.get("content", ""))) for m in body.get("messages", []))
        payload = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "model": body.get("model", self.model),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason}],
            "usage": {"prompt_tokens": prompt_words, "completion_tokens": _words(reply.text),
                      "total_tokens": prompt_words + _words(reply.text)},
        }
        return 200, headers, json.dumps(payload)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, headers: dict, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {},
                               json.dumps({"object": "list", "data": [{"id": server.model, "object": "model"}]}))
                else:
                    self._send(404, {}, json.dumps({"error": {"message": "not found"}}))

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {}, json.dumps({"error": {"message": f"no route {self.path}"}}))
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._send(400, {}, json.dumps({"error": {"message": "body is not JSON"}}))
                    return
                self._send(*server._answer(body))

        return Handler
