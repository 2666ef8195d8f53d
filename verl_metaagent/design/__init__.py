"""Design scripts: the API a design uses, parsing/validation, the sandboxed runtime, prompts.

Exports are loaded lazily so that the sandboxed child, which imports ``design.api`` and
``design._transport``, pulls in nothing else.
"""

from __future__ import annotations

from verl_metaagent.utils.lazy import lazy_exports

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


__getattr__ = lazy_exports(__name__, _EXPORTS)
