"""Registration with verl's agent-loop registry (run by the lazy hook when verl imports it)."""

from __future__ import annotations


def register(agent_loop_module) -> None:
    """Register the ``metaagent_designer`` agent loop (see :mod:`.designer_loop`)."""
    from verl_metaagent.rollout.designer_loop import AGENT_LOOP_NAME, DesignerAgentLoop

    agent_loop_module.register(AGENT_LOOP_NAME)(DesignerAgentLoop)
