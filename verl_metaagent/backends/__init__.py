"""LLM backends with the call shape of verl's server manager (``generate(request_id, *, prompt_ids,
sampling_params, **kw) -> TokenOutput``): a CPU transformers backend and a scripted backend.

Submodules import torch / transformers lazily; import them directly::

    from verl_metaagent.backends.transformers_backend import TransformersBackend
    from verl_metaagent.backends.scripted import ScriptedBackend, BackendError
"""

__all__ = ["transformers_backend", "scripted"]
