"""The workflow model: frozen attrs classes for a LinkFlow workflow document.

Python names are snake_case; the camelCase wire form lives in ``_convert``. Every class keeps the
fields it does not know in ``extra`` and remembers which optional keys its source document wrote
(``written_keys``), so that ``to_dict`` gives back the document it was built from.

The classes compare by value but hash by identity: they hold dicts (config, pinned data, extra),
which cannot be hashed, and the executor keys per-workflow caches on the workflow object itself
(``weakref.WeakKeyDictionary``), which only needs identity.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from ._topology import WorkflowGraph

__all__ = [
    "Connection",
    "ErrorHandling",
    "Node",
    "OnError",
    "Workflow",
    "WorkflowSettings",
    "WorkflowStatus",
    "parse_duration",
]

OnError = Literal["stop", "continue", "errorOutput"]
ErrorHandling = Literal["stop", "continue", "retry"]
WorkflowStatus = Literal["draft", "active", "inactive", "archived"]

_ON_ERROR = ("stop", "continue", "errorOutput")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: str | float) -> float:
    """Seconds in a duration: a number of seconds, or a string such as "500ms", "30s", "30m",
    "1h", "1d" (a string without a unit is seconds too).

    Raises ``ValueError`` for anything else, negative numbers and booleans included.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return value
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"not a duration: {value!r} (write e.g. 500ms, 30s, 30m, 1h, 1d)")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def _node_tuple(nodes: Iterable[Node]) -> tuple[Node, ...]:
    return tuple(nodes)


def _connection_tuple(connections: Iterable[Connection]) -> tuple[Connection, ...]:
    return tuple(connections)


def _name_defaults_to_id(node: Node) -> str:
    return node.id


def _written_keys() -> Any:
    # Not part of equality: two models with the same values are the same workflow, whether or
    # not their source documents spelled out the defaults.
    return attrs.field(factory=frozenset, converter=frozenset, eq=False, repr=False)


@attrs.frozen(kw_only=True, unsafe_hash=False)
class Node:
    """One step of a workflow. ``config`` holds the node type's parameters."""

    id: str
    type: str
    name: str = attrs.field(default=attrs.Factory(_name_defaults_to_id, takes_self=True))
    config: dict[str, Any] = attrs.field(factory=dict)
    position: dict[str, Any] | None = None
    disabled: bool = False
    retry_on_fail: bool = False
    max_retries: int = 3
    retry_delay: int = 1000
    """Milliseconds before the first retry; later retries back off exponentially."""
    timeout: int | None = None
    """Milliseconds allowed per attempt (our extension); ``None`` means no per-node limit."""
    on_error: OnError | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(
            attrs.validators.in_(("stop", "continue", "errorOutput"))
        ),
    )
    """``None`` inherits ``settings.error_handling``."""
    breakpoint: bool = False
    pinned_data: Any = None
    notes: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    written_keys: frozenset[str] = _written_keys()

    __hash__ = object.__hash__


@attrs.frozen(kw_only=True, unsafe_hash=False)
class Connection:
    """An edge from ``source``'s ``source_port`` to ``target``'s ``target_port``."""

    id: str | None = None
    source: str
    target: str
    source_port: str = "output"
    target_port: str = "input"
    condition: str | None = None
    """An expression (``$output`` is the source's output) that must be truthy to carry data."""
    extra: dict[str, Any] = attrs.field(factory=dict)
    written_keys: frozenset[str] = _written_keys()

    __hash__ = object.__hash__


@attrs.frozen(kw_only=True, unsafe_hash=False)
class WorkflowSettings:
    """Workflow-wide settings. ``timeout`` is in seconds (the wire also takes "30m"-style text)."""

    timezone: str = "UTC"
    error_handling: ErrorHandling = attrs.field(
        default="stop", validator=attrs.validators.in_(("stop", "continue", "retry"))
    )
    timeout: float = attrs.field(default=1800.0, converter=parse_duration)
    timeout_text: str | None = attrs.field(default=None, eq=False)
    """The duration text the document wrote ("30m"), written back by ``to_dict`` as long as it
    still means ``timeout``. Presentation only: not part of equality."""
    max_concurrency: int = 10
    save_execution_progress: bool = True
    static_data: dict[str, Any] = attrs.field(factory=dict)
    extra: dict[str, Any] = attrs.field(factory=dict)
    written_keys: frozenset[str] = _written_keys()

    __hash__ = object.__hash__


@attrs.frozen(kw_only=True, unsafe_hash=False)
class Workflow:
    """A workflow: nodes joined by connections, plus settings and metadata.

    Build one from a LinkFlow document with ``Workflow.from_dict`` (which checks its shape) or
    ``validate_workflow`` (which checks everything); ``to_dict`` gives the document back.
    """

    id: str | None = None
    name: str = ""
    description: str | None = None
    status: WorkflowStatus = attrs.field(
        default="draft", validator=attrs.validators.in_(("draft", "active", "inactive", "archived"))
    )
    nodes: tuple[Node, ...] = attrs.field(default=(), converter=_node_tuple)
    connections: tuple[Connection, ...] = attrs.field(default=(), converter=_connection_tuple)
    settings: WorkflowSettings = attrs.field(factory=WorkflowSettings)
    version: int = 1
    created_at: str | None = None
    updated_at: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    written_keys: frozenset[str] = _written_keys()

    __hash__ = object.__hash__

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Workflow:
        """The workflow of a LinkFlow document.

        Raises ``WorkflowValidationError`` listing every shape problem (JSON Schema), each with
        its field path. It does not look for cycles, dangling connections or unknown node types:
        ``validate_workflow`` does.
        """
        from ._convert import workflow_from_dict  # _convert imports this module

        return workflow_from_dict(doc)

    def to_dict(self) -> dict[str, Any]:
        """The canonical LinkFlow document of this workflow (camelCase, unknown fields kept)."""
        from ._convert import workflow_to_dict  # _convert imports this module

        return workflow_to_dict(self)

    @property
    def graph(self) -> WorkflowGraph:
        """The topology index of this workflow, built once and cached."""
        from ._topology import WorkflowGraph  # _topology needs the model at type-check time only

        return WorkflowGraph.of(self)

    def node(self, node_id: str) -> Node:
        """The node with this id; ``KeyError`` if there is none."""
        return self.graph.nodes[node_id]

    def node_by_name(self, name: str) -> Node:
        """The first node with this name; ``KeyError`` if there is none."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def trigger_nodes(self, is_trigger: Callable[[Node], bool]) -> list[Node]:
        """The nodes that ``is_trigger`` (usually a node registry's) says start the workflow."""
        return [node for node in self.nodes if is_trigger(node)]
