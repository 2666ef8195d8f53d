"""Design scripts: the API a design uses, parsing/validation, the sandboxed runtime, prompts.

Exports are loaded lazily so that the sandboxed child, which imports ``design.api`` and
``design._transport``, pulls in nothing else.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "parse_design": "parse",
    "ParsedDesign": "parse",
    "validate_design": "validate",
    "build_designer_messages": "prompts",
    "classify_design": "classify",
    "design_stats": "classify",
    "execute_design": "runtime",
    "AgentCallRequest": "records",
    "AgentCallReply": "records",
    "AgentCallRecord": "records",
    "DesignTask": "records",
    "DesignLimits": "records",
    "ExecutionRecord": "records",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'verl_metaagent.design' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"verl_metaagent.design.{module}"), name)
    globals()[name] = value
    return value
