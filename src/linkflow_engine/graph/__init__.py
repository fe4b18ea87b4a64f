"""The workflow model: frozen attrs classes, JSON <-> model, validation and topology.

``Workflow.from_dict`` reads a LinkFlow document (checking its shape), ``validate_workflow`` checks
everything else (references, ports, cycles, node types, expressions) and ``WorkflowGraph`` answers
topology questions. The document format is described in ``docs/workflows.md``.
"""

from __future__ import annotations

from ._convert import workflow_schema
from ._model import (
    Connection,
    ErrorHandling,
    Node,
    OnError,
    Workflow,
    WorkflowSettings,
    WorkflowStatus,
    parse_duration,
)
from ._topology import WorkflowGraph, canonical_port
from ._validate import NodeTypeCatalog, validate_workflow

__all__ = [
    "Connection",
    "ErrorHandling",
    "Node",
    "NodeTypeCatalog",
    "OnError",
    "Workflow",
    "WorkflowGraph",
    "WorkflowSettings",
    "WorkflowStatus",
    "canonical_port",
    "parse_duration",
    "validate_workflow",
    "workflow_schema",
]
