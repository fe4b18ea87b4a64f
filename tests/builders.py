"""Small builders for LinkFlow documents, so tests read like the graphs they describe."""

from __future__ import annotations

import itertools
from typing import Any


def node(id: str, type: str = "noop", **fields: Any) -> dict[str, Any]:
    """A node document; ``name`` defaults to the id."""
    return {
        "id": id,
        "type": type,
        "name": fields.pop("name", id),
        "config": fields.pop("config", {}),
        **fields,
    }


def conn(source: str, target: str, **fields: Any) -> dict[str, Any]:
    """A connection document."""
    return {"source": source, "target": target, **fields}


def workflow(
    *nodes: dict[str, Any], connections: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """A workflow document; ``connections`` default to a chain in node order."""
    if connections is None:
        connections = [conn(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)]
    return {
        "id": extra.pop("id", "wf-test"),
        "name": extra.pop("name", "Test"),
        "nodes": list(nodes),
        "connections": connections,
        **extra,
    }


def chain(*types_or_nodes: str | dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A manual trigger followed by the given nodes in a chain."""
    nodes = [node("start", "manual_trigger", name="Start")]
    for index, item in enumerate(types_or_nodes):
        nodes.append(item if isinstance(item, dict) else node(f"n{index + 1}", item))
    return workflow(*nodes, **extra)
