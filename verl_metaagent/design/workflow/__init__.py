"""Compatibility package for the MetaAgent-X release's workflow dialect.

Inside the sandbox the runtime makes this package importable as top-level ``workflow`` so
that ``from workflow import AgentNode, Workflow, ToolRegistry`` and
``from workflow.nodes import EnsembleNode, ReflectionNode, DebateNode, RouterNode`` work.
See :mod:`verl_metaagent.design.workflow.core` for the semantics.
"""

import sys

from . import environments, release_imports  # noqa: F401  (preloaded with the package: the sandbox child reads no files)
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



def install_alias(modules: dict = sys.modules) -> None:
    """Make this package importable as top-level ``workflow`` (also ``workflow.nodes``, ``workflow.core``),
    and the release's ``utils.environments`` stand-ins (:mod:`.environments`) as ``utils...``.

    The runtime calls this in the sandbox child before running a dialect design.
    """
    from . import core, nodes

    modules["workflow"] = sys.modules[__name__]
    modules["workflow.core"] = core
    modules["workflow.nodes"] = nodes
    modules.update(environments.release_modules())


__all__ = [
    "install_alias",
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
