"""The building blocks of the OpenAPI document: component schemas (the workflow schema comes
from ``graph.workflow_schema()``) and helpers that write operations and envelopes."""

from __future__ import annotations

from typing import Any

from ..graph import workflow_schema
from ._envelope import Json

__all__ = ["ID", "PAGE", "components", "envelope", "obj", "op", "query", "ref"]

_ANY: Json = {}
_STR: Json = {"type": "string"}
_NSTR: Json = {"type": ["string", "null"]}
_INT: Json = {"type": "integer"}
_NINT: Json = {"type": ["integer", "null"]}
_BOOL: Json = {"type": "boolean"}
_STATUSES = ["pending", "running", "paused", "completed", "failed", "cancelled"]
_MODES = ["manual", "schedule", "webhook", "api", "replay"]


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str] | None = None, /, **properties: Json) -> Json:
    return {"type": "object", "properties": properties, "required": required or []}


def envelope(data: Json, *, paginated: bool = False) -> Json:
    schema = obj(["success", "data"], success={"const": True}, data=data)
    if paginated:
        schema["properties"]["pagination"] = ref("Pagination")
        schema["required"].append("pagination")
    return schema


def _json(schema: Json) -> Json:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Json]:
    texts = {
        400: "Bad JSON, a bad body or a bad query value (details name the fields)",
        401: "Missing or invalid API key",
        404: "No such execution or workflow",
        409: "The execution's status does not allow the action",
        413: "The body is larger than the server accepts",
        422: "The workflow document fails validation (every problem in details)",
    }
    return {str(s): {"description": texts[s], **_json(ref("Error"))} for s in statuses}


def op(
    summary: str,
    ok: Json,
    *,
    status: int = 200,
    errors: tuple[int, ...] = (),
    params: list[Json] | None = None,
    body: Json | None = None,
    auth: bool = True,
) -> Json:
    statuses = (*errors, 401) if auth else errors
    if body is not None:
        statuses = (*statuses, 400, 413)
    responses = {str(status): {"description": "Success", **_json(ok)}}
    responses.update(_errors(*sorted(set(statuses))))
    operation: Json = {"summary": summary, "responses": responses}
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    if not auth:
        operation["security"] = []
    return operation


def query(name: str, schema: Json, description: str) -> Json:
    return {"name": name, "in": "query", "schema": schema, "description": description}


ID = [{"name": "id", "in": "path", "required": True, "schema": _STR}]
PAGE = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Page size (20)"),
    query("offset", {"type": "integer", "minimum": 0}, "Items to skip (0)"),
]


def components() -> dict[str, Json]:
    workflow = workflow_schema()
    workflow.pop("$schema", None)
    workflow.pop("$id", None)  # a base URI would send the rebased references elsewhere
    defs = workflow.pop("$defs", {})
    return {
        **_rebased(defs),
        "Workflow": _rebased(workflow),
        "Error": obj(
            ["success", "error"],
            success={"const": False},
            error=obj(
                ["code", "message", "details"],
                code=_STR,
                message=_STR,
                details={"type": "array", "items": obj(field=_STR, message=_STR)},
            ),
        ),
        "Pagination": obj(
            ["total", "limit", "offset", "hasMore"],
            total=_INT,
            limit=_INT,
            offset=_INT,
            hasMore=_BOOL,
        ),
        "ExecutionError": {
            "type": ["object", "null"],
            "properties": {"message": _STR, "nodeId": _NSTR, "code": _STR},
        },
        "ExecutionSummary": obj(
            ["id", "workflowId", "workflowName", "status", "mode", "startedAt", "finishedAt"],
            id=_STR,
            workflowId=_NSTR,
            workflowName=_NSTR,
            status={"enum": _STATUSES},
            mode={"enum": _MODES},
            startedAt=_NSTR,
            finishedAt=_NSTR,
            duration=_NINT,
        ),
        "Execution": {
            "allOf": [
                ref("ExecutionSummary"),
                obj(
                    ["nodeExecutions", "error", "retryCount", "triggeredBy", "nodeCount", "logs"],
                    nodeExecutions={"type": "array", "items": ref("NodeExecution")},
                    error=ref("ExecutionError"),
                    retryCount=_INT,
                    triggeredBy=_NSTR,
                    originalExecutionId=_STR,
                    cancelledAt=_STR,
                    outputs={"type": ["object", "null"]},
                    nodeCount=_INT,
                    logs={"type": "array", "items": ref("LogEntry")},
                ),
            ]
        },
        "NodeExecution": obj(
            ["nodeId", "nodeName", "status", "startedAt", "finishedAt"],
            nodeId=_STR,
            nodeName=_STR,
            status={"enum": ["pending", "running", "completed", "failed", "skipped"]},
            startedAt=_NSTR,
            finishedAt=_NSTR,
            input=_ANY,
            output=_ANY,
            error=ref("ExecutionError"),
        ),
        **_webhook_components(),
        "LogEntry": obj(
            ["timestamp", "level", "message", "nodeId"],
            timestamp=_STR,
            level=_STR,
            message=_STR,
            nodeId=_NSTR,
            data=_ANY,
        ),
    }


def _webhook_components() -> dict[str, Json]:
    fields = {
        "id": _STR,
        "workflowId": _STR,
        "nodeId": _NSTR,
        "source": {"enum": ["api", "node"]},
        "name": _STR,
        "path": _STR,
        "url": _STR,
        "method": _STR,
        "isActive": _BOOL,
        "authentication": obj(["type"], type=_STR),
        "responseMode": {"enum": ["immediate", "lastNode", "custom"]},
        "responseCode": _NINT,
        "responseBody": _ANY,
        "responseHeaders": {"type": "object", "additionalProperties": _STR},
        "options": {"type": "object"},
        "lastTriggered": _NSTR,
        "triggerCount": _INT,
        "createdAt": _STR,
        "updatedAt": _STR,
    }
    log = {"timestamp": _STR, "method": _STR, "status": _INT}
    log.update(executionId=_NSTR, error=_NSTR, ip=_NSTR)
    return {"Webhook": obj(list(fields), **fields), "WebhookLog": obj(list(log), **log)}


def _rebased(schema: Any) -> Any:
    """The workflow schema's ``#/$defs/X`` references pointed at the components section."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return {**schema, "$ref": "#/components/schemas/" + ref.removeprefix("#/$defs/")}
        return {key: _rebased(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_rebased(item) for item in schema]
    return schema
