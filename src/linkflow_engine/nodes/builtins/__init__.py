"""The built-in node types of the LinkFlow reference, one module per family."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import data, flow, http, triggers, utility

if TYPE_CHECKING:
    from .._registry import NodeRegistry

__all__ = ["register_builtins"]


def register_builtins(registry: NodeRegistry) -> None:
    """Add every built-in type to ``registry``."""
    for family in (triggers, flow, data, http, utility):
        for node_type in family.NODE_TYPES:
            registry.add(node_type)
