"""Node types and the registry that holds them.

A registry belongs to an engine (no global state); every new registry starts with the built-in
types. Plugin authors add theirs with :meth:`NodeRegistry.register` (or its decorator form) or ship
them as entry points in group ``linkflow_engine.nodes`` loaded by
:meth:`NodeRegistry.load_entry_points`.

The registry is also the workflow validator's :class:`~linkflow_engine.graph.NodeTypeCatalog`: it
knows each type's ports and checks each node's ``config`` against the type's JSON Schema.
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ..graph import Node
    from ._context import NodeContext

__all__ = ["Handler", "NodeRegistry", "NodeType"]

Handler = Callable[["NodeContext"], Any]
Ports = tuple[str, ...] | Callable[[Mapping[str, Any]], tuple[str, ...]]
ENTRY_POINT_GROUP = "linkflow_engine.nodes"


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _ports(value: Iterable[str] | Callable[[Mapping[str, Any]], tuple[str, ...]]) -> Ports:
    return value if callable(value) else tuple(value)


@attrs.frozen(kw_only=True, eq=False)
class NodeType:
    """What a node ``type`` does and how it connects.

    - ``handler(ctx)`` does the work; ``async def`` runs on the loop, a plain ``def`` in a worker
      thread. Its return value is emitted on the first output port unless it called
      ``ctx.emit(port, value)``.
    - ``outputs`` are the port names (or a function of the config, as for ``switch``);
      ``inputs`` is ``()`` for triggers.
    - ``branch_ports`` are output ports whose downstream part of the graph the handler runs
      itself, once per item, through ``ctx.run_branch`` (``loop``).
    - ``accepts_many_inputs``: the node joins several inputs itself (``merge``) instead of
      receiving their shallow merge.
    - ``wait_for_all(config)``: False lets the node start on the first input that arrives.
    - ``check_config(config)``: problems a JSON Schema cannot see, as ``(field, message)``
      (a cron expression, a time zone); run by validation after the schema.
    """

    type: str
    handler: Handler = attrs.field(repr=False)
    config_schema: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    inputs: tuple[str, ...] = attrs.field(default=("input",), converter=_names)
    outputs: Ports = attrs.field(default=("output",), converter=_ports)
    branch_ports: tuple[str, ...] = attrs.field(default=(), converter=_names)
    accepts_many_inputs: bool = False
    wait_for_all: Callable[[Mapping[str, Any]], bool] | None = attrs.field(default=None, repr=False)
    check_config: Callable[[Mapping[str, Any]], list[tuple[str, str]]] | None = attrs.field(
        default=None, repr=False
    )
    category: str = "custom"
    description: str = ""
    is_async: bool = attrs.field(init=False)

    @is_async.default
    def _detect_async(self) -> bool:
        handler = self.handler
        # A callable object counts by its __call__ (a class with ``async def __call__``).
        call = handler if inspect.isroutine(handler) else getattr(handler, "__call__", handler)  # noqa: B004
        return inspect.iscoroutinefunction(call)

    @property
    def is_trigger(self) -> bool:
        return not self.inputs

    def output_ports(self, config: Mapping[str, Any]) -> tuple[str, ...]:
        if callable(self.outputs):
            return self.outputs(config)
        return self.outputs

    def describe(self) -> dict[str, Any]:
        """The JSON description served by ``GET /api/v1/nodes``."""
        return {
            "type": self.type,
            "category": self.category,
            "description": self.description,
            "inputs": list(self.inputs),
            "outputs": "dynamic" if callable(self.outputs) else list(self.outputs),
            "configSchema": self.config_schema or {"type": "object"},
            "trigger": self.is_trigger,
        }


class NodeRegistry:
    """The node types an engine knows, by type name."""

    def __init__(self, *, builtins: bool = True) -> None:
        self._types: dict[str, NodeType] = {}
        if builtins:
            from .builtins import register_builtins

            register_builtins(self)

    def __repr__(self) -> str:
        return f"NodeRegistry({len(self._types)} types)"

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def register(
        self,
        type: str,
        handler: Handler | None = None,
        *,
        replace: bool = False,
        **options: Any,
    ) -> Any:
        """Register ``handler`` as node type ``type`` (options as for :class:`NodeType`).

        Without ``handler`` it returns a decorator::

            @registry.register("double", config_schema={...})
            async def double(ctx): return {"n": ctx.input["n"] * 2}

        Registering a name twice raises ValueError unless ``replace=True``.
        """
        if handler is None:

            def decorator(fn: Handler) -> Handler:
                self.register(type, fn, replace=replace, **options)
                return fn

            return decorator
        if type in self._types and not replace:
            raise ValueError(f"node type {type!r} is already registered")
        if options.get("config_schema") is not None:
            from ._schema import check_schema

            check_schema(type, options["config_schema"])
        node_type = NodeType(type=type, handler=handler, **options)
        self._types[type] = node_type
        return node_type

    def add(self, node_type: NodeType, *, replace: bool = False) -> None:
        """Register a ready-made :class:`NodeType`."""
        if node_type.type in self._types and not replace:
            raise ValueError(f"node type {node_type.type!r} is already registered")
        self._types[node_type.type] = node_type

    def get(self, type: str) -> NodeType:
        """The node type named ``type``; KeyError when unknown."""
        try:
            return self._types[type]
        except KeyError:
            raise KeyError(f"unknown node type {type!r}") from None

    def list(self) -> builtins.list[NodeType]:
        """Every registered type, sorted by name."""
        return [self._types[name] for name in sorted(self._types)]

    def describe(self) -> builtins.list[dict[str, Any]]:
        """JSON descriptions of every type, sorted by name."""
        return [t.describe() for t in self.list()]

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> builtins.list[str]:
        """Load plugins: each entry point is a NodeType, or a callable taking this registry.

        Returns the names of the entry points loaded.
        """
        from importlib.metadata import entry_points

        loaded = []
        for entry_point in entry_points(group=group):
            target = entry_point.load()
            if isinstance(target, NodeType):
                self.add(target)
            else:
                target(self)
            loaded.append(entry_point.name)
        return loaded

    # -- the workflow validator's NodeTypeCatalog ------------------------------------------

    def node_problems(self, node: Node) -> builtins.list[tuple[str, str]]:
        node_type = self._types.get(node.type)
        if node_type is None:
            known = ", ".join(sorted(self._types))
            return [("type", f"unknown node type {node.type!r} (known: {known})")]
        problems = []
        if node_type.config_schema is not None:
            from ._schema import config_problems

            problems = config_problems(node_type, node.config)
        if node_type.check_config is not None and not problems:
            problems = node_type.check_config(node.config)
        return problems

    def input_ports(self, node: Node) -> frozenset[str] | None:
        node_type = self._types.get(node.type)
        return None if node_type is None else frozenset(node_type.inputs)

    def output_ports(self, node: Node) -> frozenset[str] | None:
        node_type = self._types.get(node.type)
        if node_type is None:
            return None
        return frozenset(node_type.output_ports(node.config))

    def is_trigger(self, node: Node) -> bool:
        node_type = self._types.get(node.type)
        return node_type is not None and node_type.is_trigger
