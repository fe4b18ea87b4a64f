"""The OpenAPI 3.1 document of the HTTP API, written out by hand so it says what the spec says;
a schemathesis test runs it against the live app to keep the two in step."""

from __future__ import annotations

import functools

from ._envelope import Json
from ._openapi_schemas import ID, PAGE, components, envelope, obj, op, query, ref

__all__ = ["openapi_document"]

_STR: Json = {"type": "string"}
_OBJECT: Json = {"type": "object"}
_STATUS_FILTER = ["pending", "running", "paused", "completed", "failed", "cancelled"]
_WORKFLOW_STATUSES = ["draft", "active", "inactive", "archived"]

_EXECUTE_OPTIONS = obj(
    None,
    inputData={},
    runPartial={"type": "boolean"},
    startNodeId={"type": ["string", "null"]},
    debug={"type": "boolean"},
    breakpoints={"type": "array", "items": _STR},
    webhookUrl={"type": "string", "format": "uri"},
    **{"async": {"type": "boolean"}},
)
_EXECUTE = {
    "oneOf": [
        obj(["workflow"], workflow=ref("Workflow"), options=_EXECUTE_OPTIONS),
        obj(["workflowId"], workflowId=_STR, options=_EXECUTE_OPTIONS),
    ]
}
_RUN_RESULT = {
    "oneOf": [
        obj(
            ["executionId", "status", "outputs", "duration", "nodeCount"],
            executionId=_STR,
            status=_STR,
            outputs=_OBJECT,
            duration={"type": ["integer", "null"]},
            nodeCount={"type": "integer"},
            error=ref("ExecutionError"),
        ),
        obj(["executionId", "status", "message"], executionId=_STR, status=_STR, message=_STR),
    ]
}
_ONE_EXECUTION = envelope(obj(["execution"], execution=ref("Execution")))
_ONE_EXECUTION_SUMMARY = envelope(obj(["execution"], execution=ref("ExecutionSummary")))
_WORKFLOW = ref("Workflow")
_ONE_WORKFLOW = envelope(obj(["workflow"], workflow=ref("Workflow")))
_WORKFLOWS = envelope(
    obj(["workflows"], workflows={"type": "array", "items": ref("Workflow")}), paginated=True
)
_EXECUTIONS = envelope(
    obj(["executions"], executions={"type": "array", "items": ref("ExecutionSummary")}),
    paginated=True,
)
_STATS = envelope(
    obj(
        ["stats"],
        stats=obj(
            ["total", "completed", "failed", "cancelled", "avgDuration", "successRate", "byDay"],
            total={"type": "integer"},
            completed={"type": "integer"},
            failed={"type": "integer"},
            cancelled={"type": "integer"},
            avgDuration={"type": ["number", "null"]},
            successRate={"type": ["number", "null"]},
            byDay={"type": "array", "items": obj(["date", "count", "failed"])},
        ),
    )
)
_CANCELLED = envelope(
    obj(["execution"], execution=obj(["id", "status"], id=_STR, status=_STR, cancelledAt=_STR))
)
_RETRIED = envelope(
    obj(
        ["executionId", "originalExecutionId", "status"],
        executionId=_STR,
        originalExecutionId=_STR,
        status=_STR,
    )
)
_RETRY = obj(
    fromNode=_STR,
    fromNodeId=_STR,
    inputOverrides=_OBJECT,
    webhookUrl={"type": "string", "format": "uri"},
)
_HEALTH = envelope(obj(["status"], status={"const": "ok"}, version=_STR))

_LIST_EXECUTIONS = [
    query("workflowId", _STR, "Only this workflow's executions"),
    query("status", {"enum": _STATUS_FILTER}, "Only executions with this status"),
    query("mode", {"enum": ["manual", "schedule", "webhook", "api", "replay"]}, "Start mode"),
    query("startedAfter", {"type": "string", "format": "date-time"}, "Started at or after"),
    query("startedBefore", {"type": "string", "format": "date-time"}, "Started before"),
    *PAGE,
]
_LIST_WORKFLOWS = [
    query("status", {"enum": _WORKFLOW_STATUSES}, "Only workflows with this status"),
    query(
        "sort",
        {"enum": ["updatedAt", "-updatedAt", "createdAt", "-createdAt", "name", "-name"]},
        "Order ('-' for descending; default -updatedAt)",
    ),
    *PAGE,
]
_BOOL_QUERY = {"type": "boolean"}


def _executions() -> dict[str, Json]:
    return {
        "/execute": {
            "post": op(
                "Run a workflow (inline or stored), synchronously or in the background",
                envelope(_RUN_RESULT),
                errors=(404, 422),
                body=_EXECUTE,
            )
        },
        "/executions": {
            "get": op("List executions", _EXECUTIONS, errors=(400,), params=_LIST_EXECUTIONS)
        },
        "/executions/stats": {
            "get": op(
                "Execution statistics",
                _STATS,
                errors=(400,),
                params=[
                    query("workflowId", _STR, "Only this workflow's executions"),
                    query("period", {"enum": ["day", "week", "month"]}, "Window (day)"),
                ],
            )
        },
        "/executions/{id}": {
            "get": op(
                "One execution with its node runs and logs",
                _ONE_EXECUTION,
                errors=(400, 404),
                params=[*ID, query("includeData", _BOOL_QUERY, "Node input/output (false)")],
            )
        },
        "/executions/{id}/cancel": {
            "post": op("Cancel an execution", _CANCELLED, errors=(404, 409), params=ID)
        },
        "/executions/{id}/retry": {
            "post": op(
                "Replay a finished execution as a new one",
                _RETRIED,
                errors=(400, 404, 409, 413),
                params=ID,
                body=_RETRY,
            )
        },
        "/executions/{id}/resume": {
            "post": op(
                "Resume a paused (debug) execution",
                _ONE_EXECUTION_SUMMARY,
                errors=(400, 404, 409, 413),
                params=ID,
                body=obj(step={"type": "boolean"}),
            )
        },
    }


def _workflows() -> dict[str, Json]:
    stored = "/workflows/{id}"
    return {
        "/workflows": {
            "get": op("List workflows", _WORKFLOWS, errors=(400,), params=_LIST_WORKFLOWS),
            "post": op(
                "Create a workflow", _ONE_WORKFLOW, status=201, errors=(409, 422), body=_WORKFLOW
            ),
        },
        "/workflows/import": {
            "post": op(
                "Import a workflow document (always as a new workflow)",
                _ONE_WORKFLOW,
                status=201,
                errors=(422,),
                body={"oneOf": [obj(["workflow"], workflow=_WORKFLOW), _WORKFLOW]},
            )
        },
        stored: {
            "get": op(
                "A stored workflow (latest version, or ?version=N)",
                _ONE_WORKFLOW,
                errors=(400, 404),
                params=[*ID, query("version", {"type": "integer", "minimum": 1}, "Version")],
            ),
            "put": op(
                "Store a new version",
                _ONE_WORKFLOW,
                errors=(404, 422),
                params=ID,
                body=_WORKFLOW,
            ),
            "delete": _delete(),
        },
        stored + "/activate": {"post": _status_change("Set status active")},
        stored + "/deactivate": {"post": _status_change("Set status inactive")},
        stored + "/duplicate": {
            "post": op(
                "Copy as a new draft workflow",
                _ONE_WORKFLOW,
                status=201,
                errors=(400, 404, 413, 422),
                params=ID,
            )
        },
        stored + "/export": {
            "get": op("The portable document", _ONE_WORKFLOW, errors=(404,), params=ID)
        },
    }


def _status_change(summary: str) -> Json:
    return op(summary, _ONE_WORKFLOW, errors=(404, 422), params=ID)


def _delete() -> Json:
    operation = op(
        "Delete every version (204), or archive it with ?archive=true (200)",
        _ONE_WORKFLOW,
        errors=(400, 404, 422),
        params=[*ID, query("archive", _BOOL_QUERY, "Archive instead (false)")],
    )
    operation["responses"]["204"] = {"description": "Deleted"}
    return operation


_CREDENTIAL_TYPES = ["api_key", "bearer_token", "basic_auth", "oauth2", "custom"]
_CREDENTIAL = obj(
    ["id", "name", "type", "createdAt", "updatedAt"],
    id=_STR,
    name=_STR,
    type={"enum": _CREDENTIAL_TYPES},
    data={"type": "object", "additionalProperties": {"const": "***"}},
    createdAt={"type": ["string", "null"]},
    updatedAt={"type": ["string", "null"]},
)
_ONE_CREDENTIAL = envelope(obj(["credential"], credential=_CREDENTIAL))
_CREDENTIALS = envelope(
    obj(["credentials"], credentials={"type": "array", "items": _CREDENTIAL}), paginated=True
)
_NEW_CREDENTIAL = obj(
    ["name", "type", "data"],
    id=_STR,
    name=_STR,
    type={"enum": _CREDENTIAL_TYPES},
    data=_OBJECT,
)
_CREDENTIAL_CHANGE = obj(None, name=_STR, data=_OBJECT)


def _credentials() -> dict[str, Json]:
    listing = [query("type", {"enum": _CREDENTIAL_TYPES}, "Only credentials of this type"), *PAGE]
    return {
        "/credentials": {
            "get": op("List credentials (no data)", _CREDENTIALS, errors=(400,), params=listing),
            "post": _about_credentials(
                op(
                    "Store a credential (data encrypted; answered masked)",
                    _ONE_CREDENTIAL,
                    status=201,
                    errors=(409, 422),
                    body=_NEW_CREDENTIAL,
                )
            ),
        },
        "/credentials/{id}": {
            "get": _about_credentials(
                op("A credential, data masked", _ONE_CREDENTIAL, errors=(404,), params=ID)
            ),
            "put": _about_credentials(
                op(
                    "Change the name and/or data ('***' keeps a stored value)",
                    _ONE_CREDENTIAL,
                    errors=(404, 422),
                    params=ID,
                    body=_CREDENTIAL_CHANGE,
                )
            ),
            "delete": _credential_delete(),
        },
    }


def _about_credentials(operation: Json) -> Json:
    """The shared error texts, said of credentials."""
    texts = {
        "404": "No such credential",
        "409": "A credential with that id exists already",
        "422": "The credential is invalid (every problem in details)",
    }
    for status, text in texts.items():
        if status in operation["responses"]:
            operation["responses"][status]["description"] = text
    return operation


def _credential_delete() -> Json:
    operation = _about_credentials(op("Delete a credential", {}, errors=(404,), params=ID))
    del operation["responses"]["200"]
    operation["responses"]["204"] = {"description": "Deleted"}
    return operation


_WEBHOOK = ref("Webhook")
_ONE_WEBHOOK = envelope(obj(["webhook"], webhook=_WEBHOOK))
_WEBHOOK_SETTINGS = {
    "name": _STR,
    "path": _STR,
    "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
    "isActive": {"type": "boolean"},
    "authentication": {"oneOf": [{"const": "none"}, obj(["type"], type=_STR)]},
    "responseMode": {"enum": ["immediate", "lastNode", "custom"]},
    "responseCode": {"type": ["integer", "null"]},
    "responseBody": {},
    "responseHeaders": _OBJECT,
    "options": _OBJECT,
    "nodeId": {"type": ["string", "null"]},
}
_WEBHOOK_SAMPLE = obj(method=_STR, headers=_OBJECT, query=_OBJECT, body={})


def _webhooks() -> dict[str, Json]:
    one = "/webhooks/{id}"
    listing = [query("workflowId", _STR, "Only this workflow's webhooks"), *PAGE]
    listed = envelope(
        obj(["webhooks"], webhooks={"type": "array", "items": _WEBHOOK}), paginated=True
    )
    logs = envelope(obj(["logs"], logs={"type": "array", "items": ref("WebhookLog")}))
    limit = [*ID, query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "(100)")]
    create = obj(["workflowId"], workflowId=_STR, **_WEBHOOK_SETTINGS)
    ran = envelope(_RUN_RESULT["oneOf"][0])
    test = op("Run on a sample request", ran, errors=(400, 404, 413, 422), params=ID)
    sample = {"application/json": {"schema": _WEBHOOK_SAMPLE}}
    test["requestBody"] = {"required": False, "content": sample}
    return {
        "/webhooks": {
            "get": op("List webhooks", listed, errors=(400,), params=listing),
            "post": op("Create", _ONE_WEBHOOK, status=201, errors=(409, 422), body=create),
        },
        one: {
            "get": op("A webhook, secrets masked", _ONE_WEBHOOK, errors=(404,), params=ID),
            "put": op(
                "Change a webhook ('***' keeps the secret)",
                _ONE_WEBHOOK,
                errors=(404, 409, 422),
                params=ID,
                body=obj(None, **_WEBHOOK_SETTINGS),
            ),
            "delete": _no_content(op("Delete a webhook", {}, errors=(404, 409), params=ID)),
        },
        one + "/regenerate": {
            "post": op("A new random path", _ONE_WEBHOOK, errors=(404, 409), params=ID)
        },
        one + "/test": {"post": test},
        one + "/logs": {"get": op("Recent requests", logs, errors=(400, 404), params=limit)},
    }


def _no_content(operation: Json) -> Json:
    del operation["responses"]["200"]
    operation["responses"]["204"] = {"description": "Deleted"}
    return operation


def _others() -> dict[str, Json]:
    nodes = envelope(obj(["nodes"], nodes={"type": "array", "items": _OBJECT}))
    health = op("Liveness (no key needed)", _HEALTH, auth=False)
    return {
        "/nodes": {"get": op("The node types this server runs", nodes)},
        "/health": {"get": health},
    }


@functools.cache
def _document() -> Json:
    return {
        "openapi": "3.1.0",
        "info": {"title": "linkflow-engine", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {**_executions(), **_workflows(), **_credentials(), **_webhooks(), **_others()},
        "components": {
            "schemas": components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def openapi_document() -> Json:
    """The document (built once; callers must not change it)."""
    return _document()
