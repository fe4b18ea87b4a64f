"""Node types: the registry, the context handlers see, and the built-ins."""

from __future__ import annotations

from ._context import ExecutionInfo, NodeContext
from ._registry import Handler, NodeRegistry, NodeType

__all__ = ["ExecutionInfo", "Handler", "NodeContext", "NodeRegistry", "NodeType"]
