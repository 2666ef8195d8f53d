"""LLM backends with the call shape of verl's server manager.

``await backend.generate(request_id, *, prompt_ids, sampling_params, **kw) -> TokenOutput``
(verl's ``verl.workers.rollout.replica.TokenOutput``):

* :class:`~verl_metaagent.backends.transformers_backend.TransformersBackend`: real CPU decoding
  with a transformers causal LM (the tiny test model, or any small checkpoint);
* :class:`~verl_metaagent.backends.scripted.ScriptedBackend`: scripted texts, tokenised for real,
  with failure injection and call recording, for deterministic tests.

Both are imported lazily (attribute access), so importing this package does not import torch,
transformers or verl.
"""

from __future__ import annotations

import importlib

__all__ = ["TransformersBackend", "ScriptedBackend"]

_WHERE = {"TransformersBackend": "transformers_backend", "ScriptedBackend": "scripted"}


def __getattr__(name: str):
    """Lazily import :data:`__all__` members from their submodules."""
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
