"""Compatibility package for the MetaAgent-X release's workflow dialect.

Inside the sandbox the runtime makes this package importable as top-level ``workflow`` so
that ``from workflow import AgentNode, Workflow, ToolRegistry`` and
``from workflow.nodes import EnsembleNode, ReflectionNode, DebateNode, RouterNode`` work.
See :mod:`verl_metaagent.design.workflow.core` for the semantics.
"""

from .core import (
    AgentNode,
    ConditionalWorkflow,
    Context,
    DebateNode,
    EnsembleNode,
    LoopWorkflow,
    Message,
    MessageType,
    ReflectionNode,
    RouterNode,
    ToolRegistry,
    Workflow,
    WorkflowNode,
    python_execute,
)

__all__ = [
    "AgentNode",
    "ConditionalWorkflow",
    "Context",
    "DebateNode",
    "EnsembleNode",
    "LoopWorkflow",
    "Message",
    "MessageType",
    "ReflectionNode",
    "RouterNode",
    "ToolRegistry",
    "Workflow",
    "WorkflowNode",
    "python_execute",
]
