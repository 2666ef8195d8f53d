"""Node classes of the workflow dialect (``from workflow.nodes import EnsembleNode, ...``)."""

from ..core import AgentNode, DebateNode, EnsembleNode, ReflectionNode, RouterNode, WorkflowNode

__all__ = ["AgentNode", "DebateNode", "EnsembleNode", "ReflectionNode", "RouterNode", "WorkflowNode"]
