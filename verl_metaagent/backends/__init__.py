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

from verl_metaagent.utils.lazy import lazy_exports

__all__ = ["TransformersBackend", "ScriptedBackend"]

_WHERE = {"TransformersBackend": "transformers_backend", "ScriptedBackend": "scripted"}


__getattr__ = lazy_exports(__name__, _WHERE)
