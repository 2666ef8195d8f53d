"""Helpers for users' own tests, shipped with the plugin.

:mod:`verl_metaagent.testing.openai_server` is a scripted OpenAI-compatible chat server on 127.0.0.1
(documented in the README and docs/clients.md for testing a client, eval or distillation run offline).
The project's test-only helpers live in ``tests/support``; the tiny model in
:mod:`verl_metaagent.demo.tiny_model`.
"""

__all__ = ["openai_server"]
