"""LinkFlow documents (camelCase JSON) to the model and back.

Reading checks the document against ``workflow.schema.json`` first and reports every shape problem
at once. Writing gives the canonical document: ``config`` rather than ``parameters``,
``source``/``target`` rather than ``sourceNodeId``/``targetNodeId``, both ports spelled out, and any
other optional field only when it differs from its default or the source document wrote it.
Unknown fields are kept in ``extra`` and written back, so reading then writing a canonical document
gives the same document.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .._exceptions import WorkflowValidationError
from ._model import Connection, Node, Workflow, WorkflowSettings, parse_duration

__all__ = ["field_path", "workflow_from_dict", "workflow_schema", "workflow_to_dict"]

_Fields = tuple[tuple[str, str, Any], ...]

# (attribute, wire key, default) of the optional fields that are written only when they differ
# from the default or were written by the source document. Required and canonical fields
# (node id/type/name/config, connection source/target/ports) are handled by hand.
_NODE_OPTIONAL: _Fields = (
    ("position", "position", None),
    ("disabled", "disabled", False),
    ("retry_on_fail", "retryOnFail", False),
    ("max_retries", "maxRetries", 3),
    ("retry_delay", "retryDelay", 1000),
    ("timeout", "timeout", None),
    ("on_error", "onError", None),
    ("breakpoint", "breakpoint", False),
    ("pinned_data", "pinnedData", None),
    ("notes", "notes", None),
)
_CONNECTION_OPTIONAL: _Fields = (("id", "id", None), ("condition", "condition", None))
_SETTINGS_OPTIONAL: _Fields = (
    ("timezone", "timezone", "UTC"),
    ("error_handling", "errorHandling", "stop"),
    ("max_concurrency", "maxConcurrency", 10),
    ("save_execution_progress", "saveExecutionProgress", True),
    ("static_data", "staticData", {}),
)
_WORKFLOW_OPTIONAL: _Fields = (
    ("id", "id", None),
    ("description", "description", None),
    ("status", "status", "draft"),
    ("version", "version", 1),
    ("created_at", "createdAt", None),
    ("updated_at", "updatedAt", None),
)

_NODE_KNOWN = {"id", "type", "name", "config", "parameters"} | {w for _, w, _ in _NODE_OPTIONAL}
_CONNECTION_KNOWN = {"source", "sourceNodeId", "target", "targetNodeId", "sourcePort", "targetPort"}
_CONNECTION_KNOWN |= {w for _, w, _ in _CONNECTION_OPTIONAL}
_SETTINGS_KNOWN = {"timeout"} | {w for _, w, _ in _SETTINGS_OPTIONAL}
_WORKFLOW_KNOWN = {"name", "nodes", "connections", "settings"}
_WORKFLOW_KNOWN |= {w for _, w, _ in _WORKFLOW_OPTIONAL}
_ALIASES = {"config": "parameters", "source": "sourceNodeId", "target": "targetNodeId"}

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")


# -- reading -----------------------------------------------------------------------------------


def workflow_from_dict(doc: Mapping[str, Any]) -> Workflow:
    """The workflow of a LinkFlow document; ``WorkflowValidationError`` lists its shape problems."""
    problems = schema_problems(doc) or alias_problems(doc)
    if problems:
        raise WorkflowValidationError(problems)
    return Workflow(
        name=doc.get("name", ""),
        nodes=[_node(n) for n in doc["nodes"]],
        connections=[_connection(c) for c in doc.get("connections", ())],
        settings=_settings(doc.get("settings", {})),
        extra=_unknown(doc, _WORKFLOW_KNOWN),
        written_keys=_written(doc, _WORKFLOW_OPTIONAL, ("settings",)),
        **_optional(doc, _WORKFLOW_OPTIONAL),
    )


def _node(doc: Mapping[str, Any]) -> Node:
    optional = _optional(doc, _NODE_OPTIONAL)
    if "name" in doc:
        optional["name"] = doc["name"]
    return Node(
        id=doc["id"],
        type=doc["type"],
        config=copy.deepcopy(doc.get("config", doc.get("parameters", {}))),
        extra=_unknown(doc, _NODE_KNOWN),
        written_keys=_written(doc, _NODE_OPTIONAL, ("name",)),
        **optional,
    )


def _connection(doc: Mapping[str, Any]) -> Connection:
    return Connection(
        source=doc.get("source", doc.get("sourceNodeId")),
        target=doc.get("target", doc.get("targetNodeId")),
        source_port=doc.get("sourcePort", "output"),
        target_port=doc.get("targetPort", "input"),
        extra=_unknown(doc, _CONNECTION_KNOWN),
        written_keys=_written(doc, _CONNECTION_OPTIONAL),
        **_optional(doc, _CONNECTION_OPTIONAL),
    )


def _settings(doc: Mapping[str, Any]) -> WorkflowSettings:
    timeout = doc.get("timeout", 1800.0)
    return WorkflowSettings(
        timeout=timeout,
        timeout_text=timeout if isinstance(timeout, str) else None,
        extra=_unknown(doc, _SETTINGS_KNOWN),
        written_keys=_written(doc, _SETTINGS_OPTIONAL, ("timeout",)),
        **_optional(doc, _SETTINGS_OPTIONAL),
    )


def _optional(doc: Mapping[str, Any], fields: Iterable[tuple[str, str, Any]]) -> dict[str, Any]:
    # Deep copies: the model must not change when the caller later edits its document.
    return {attr: copy.deepcopy(doc[wire]) for attr, wire, _ in fields if wire in doc}


def _written(
    doc: Mapping[str, Any], fields: Iterable[tuple[str, str, Any]], more: Iterable[str] = ()
) -> frozenset[str]:
    wires = [wire for _, wire, _ in fields] + list(more)
    return frozenset(wire for wire in wires if wire in doc)


def _unknown(doc: Mapping[str, Any], known: set[str]) -> dict[str, Any]:
    return {key: copy.deepcopy(value) for key, value in doc.items() if key not in known}


# -- writing -----------------------------------------------------------------------------------


def workflow_to_dict(workflow: Workflow) -> dict[str, Any]:
    """The canonical document of ``workflow``; nested JSON values are shared, not copied."""
    doc: dict[str, Any] = {"name": workflow.name}
    doc.update(_changed(workflow, _WORKFLOW_OPTIONAL))
    doc["nodes"] = [node_to_dict(node) for node in workflow.nodes]
    doc["connections"] = [connection_to_dict(c) for c in workflow.connections]
    settings = settings_to_dict(workflow.settings)
    if settings or "settings" in workflow.written_keys:
        doc["settings"] = settings
    return {**workflow.extra, **doc}


def node_to_dict(node: Node) -> dict[str, Any]:
    """The canonical JSON form of one node."""
    doc: dict[str, Any] = {"id": node.id, "type": node.type}
    if node.name != node.id or "name" in node.written_keys:
        doc["name"] = node.name
    doc["config"] = node.config
    doc.update(_changed(node, _NODE_OPTIONAL))
    return {**node.extra, **doc}


def connection_to_dict(connection: Connection) -> dict[str, Any]:
    """The canonical JSON form of one connection, ports spelled out."""
    doc: dict[str, Any] = _changed(connection, _CONNECTION_OPTIONAL[:1])
    doc.update(
        source=connection.source,
        target=connection.target,
        sourcePort=connection.source_port,
        targetPort=connection.target_port,
    )
    doc.update(_changed(connection, _CONNECTION_OPTIONAL[1:]))
    return {**connection.extra, **doc}


def settings_to_dict(settings: WorkflowSettings) -> dict[str, Any]:
    """The JSON form of the settings; empty when every setting has its default."""
    doc = _changed(settings, _SETTINGS_OPTIONAL)
    if settings.timeout != 1800 or settings.timeout_text or "timeout" in settings.written_keys:
        doc["timeout"] = _timeout_wire(settings)
    return {**settings.extra, **doc}


def _timeout_wire(settings: WorkflowSettings) -> str | float:
    # The text the user wrote wins, unless the model was since changed to another duration.
    text = settings.timeout_text
    if text is not None and parse_duration(text) == settings.timeout:
        return text
    return settings.timeout


def _changed(model: Any, fields: Iterable[tuple[str, str, Any]]) -> dict[str, Any]:
    written = model.written_keys
    doc = {}
    for attr, wire, default in fields:
        value = getattr(model, attr)
        if value != default or wire in written:
            doc[wire] = value
    return doc


# -- shape checks ------------------------------------------------------------------------------


def workflow_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a workflow document, as a fresh dict."""
    return copy.deepcopy(_schema())


@functools.cache
def _schema() -> dict[str, Any]:
    from importlib import resources  # ~10 ms to import: only documents being read need it

    text = resources.files(__package__).joinpath("workflow.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Any:
    # jsonschema costs tens of milliseconds to import and to build a validator: pay once, on use.
    import jsonschema  # type: ignore[import-untyped, unused-ignore]

    return jsonschema.Draft202012Validator(_schema())


def schema_problems(doc: Any) -> list[dict[str, str]]:
    """Every way ``doc`` breaks the workflow JSON Schema, as ``{field, message}``, in path order."""
    located = sorted((_locate(error) for error in _validator().iter_errors(doc)), key=_sort_key)
    return [{"field": field_path(path), "message": message} for path, message in located]


def _sort_key(problem: tuple[list[str | int], str]) -> list[tuple[int, str]]:
    return [(0, f"{p:09d}") if isinstance(p, int) else (1, p) for p in problem[0]]


def _locate(error: Any) -> tuple[list[str | int], str]:
    """The path of the field at fault (the missing one for ``required``) and a plain message."""
    path = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "required":
        missing = re.match(r"'(.*)' is a required property", error.message)
        return [*path, missing[1] if missing else "?"], "is required"
    if "x-field" in schema:
        path.append(schema["x-field"])
    if "x-message" in schema and error.validator in ("pattern", "anyOf", "type"):
        return path, str(schema["x-message"])
    return path, _message(error)


def _message(error: Any) -> str:
    if error.validator == "type":
        expected = error.validator_value
        names = expected if isinstance(expected, list) else [expected]
        return f"must be of type {' or '.join(names)}, not {_json_type(error.instance)}"
    if error.validator == "enum":
        return "must be one of " + ", ".join(json.dumps(v) for v in error.validator_value)
    return str(error.message)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object"


def alias_problems(doc: Mapping[str, Any]) -> list[dict[str, str]]:
    """A node or connection that writes a field under both its name and its alias is ambiguous."""
    problems = []
    for kind, items in (("nodes", doc["nodes"]), ("connections", doc.get("connections", ()))):
        for index, item in enumerate(items):
            for name, alias in _ALIASES.items():
                if name in item and alias in item:
                    field = field_path([kind, index, alias])
                    problems.append(
                        {"field": field, "message": f"write {name} or {alias}, not both"}
                    )
    return problems


def field_path(parts: Iterable[str | int]) -> str:
    """``["nodes", 2, "config", "url"]`` -> ``"nodes[2].config.url"``; odd keys are quoted."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.match(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part)}]"
    return text or "(document)"
