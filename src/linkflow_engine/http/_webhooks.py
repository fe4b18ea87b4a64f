"""The Webhooks API (list, create, get, update, delete, regenerate, test, logs) and the
``/webhook/{path}`` endpoint that serves them (see ``docs/webhooks.md``).

Webhooks declared by a ``webhook_trigger`` node (``source: node``) belong to their workflow:
the API shows, tests and logs them, but changes go through the workflow document (409 here).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._exceptions import ExecutionNotFoundError, WorkflowValidationError
from .._stored_values import dump
from ..webhooks import (
    METHODS,
    Webhook,
    WebhookDispatcher,
    WebhookRequest,
    WebhookStore,
    new_path,
    parse_settings,
)
from ..webhooks._model import SETTINGS, now_text
from ..webhooks._request import multi_dict
from ._envelope import ApiError, Json, guarded, success, validation_status
from ._executions import finished, pagination, user_of
from ._requests import field, object_body, query_int

if TYPE_CHECKING:
    from ..graph import Workflow
    from ..runtime import Engine

__all__ = ["WebhooksApi"]

# Read-only fields a client may send back unchanged (a GET's answer, edited, as a PUT).
_READ_ONLY = ("id", "url", "source", "lastTriggered", "triggerCount", "createdAt", "updatedAt")
_FIELDS = SETTINGS | {"workflowId", "nodeId", *_READ_ONLY}


class WebhooksApi:
    """The handlers of ``/api/v1/webhooks/...`` and ``/webhook/{path}`` over one engine."""

    def __init__(self, engine: Engine, store: WebhookStore, *, max_body_bytes: int) -> None:
        self.engine = engine
        self.store = store
        self.dispatcher = WebhookDispatcher(engine, store)
        self.max_body_bytes = max_body_bytes

    def routes(self) -> list[Route]:
        """The API's routes, to mount under ``/api/v1``."""
        one = "/webhooks/{id}"
        return [
            Route("/webhooks", guarded(self.index), methods=["GET"]),
            Route("/webhooks", guarded(self.create), methods=["POST"]),
            Route(one, guarded(self.get), methods=["GET"]),
            Route(one, guarded(self.update), methods=["PUT"]),
            Route(one, guarded(self.delete), methods=["DELETE"]),
            Route(one + "/regenerate", guarded(self.regenerate), methods=["POST"]),
            Route(one + "/test", guarded(self.test), methods=["POST"]),
            Route(one + "/logs", guarded(self.logs), methods=["GET"]),
        ]

    def trigger_route(self) -> Route:
        """``/webhook/{path}`` for every method (the dispatcher answers 405 itself, with the
        webhook's own Allow list)."""
        return Route(
            "/webhook/{path:path}",
            guarded(self.receive, repeats=True),
            methods=[*METHODS, "OPTIONS"],
        )

    # -- the API ---------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        await self.dispatcher.nodes.refresh()
        workflow_id = request.query_params.get("workflowId") or None
        limit = query_int(request, "limit", default=20, minimum=1, maximum=1000)
        offset = query_int(request, "offset", default=0, minimum=0)
        found = await self.store.list(workflow_id=workflow_id)
        page = [w.to_json(_base_url(request)) for w in found[offset : offset + limit]]
        return success({"webhooks": page}, pagination=pagination(len(found), limit, offset))

    async def create(self, request: Request) -> Response:
        # The paths nodes declare first: a path a node of an active workflow took is in use.
        await self.dispatcher.nodes.refresh()
        body = await object_body(request, self.max_body_bytes)
        workflow = await self._workflow(body)
        with validation_status(422):
            fields = parse_settings(_writable(body))
            node_id = _trigger_node(workflow, body.get("nodeId"))
        assert workflow.id is not None  # stored workflows have ids
        now = now_text()
        webhook = Webhook(
            workflow_id=workflow.id,
            node_id=node_id,
            **{"name": f"{workflow.name} webhook", "path": new_path(), **fields},
            created_at=now,
            updated_at=now,
        )
        created = await self.store.create(webhook)
        return success({"webhook": created.to_json(_base_url(request))}, status=201)

    async def get(self, request: Request) -> Response:
        await self.dispatcher.nodes.refresh()
        webhook = await self.store.get(request.path_params["id"])
        return success({"webhook": webhook.to_json(_base_url(request))})

    async def update(self, request: Request) -> Response:
        current = await self._own(request.path_params["id"])
        body = await object_body(request, self.max_body_bytes)
        if "workflowId" in body and body["workflowId"] != current.workflow_id:
            raise ApiError.field("workflowId", "cannot change: create a webhook for the other one")
        with validation_status(422):
            fields = parse_settings(_writable(body, current), current=current)
            if "nodeId" in body:
                workflow = await self.engine.get_workflow(current.workflow_id)
                fields["node_id"] = _trigger_node(workflow, body["nodeId"])
        changed = attrs.evolve(current, **fields, updated_at=now_text())
        stored = await self.store.update(changed)
        return success({"webhook": stored.to_json(_base_url(request))})

    async def delete(self, request: Request) -> Response:
        webhook = await self._own(request.path_params["id"])
        await self.store.delete(webhook.id)
        self.dispatcher.limiter.forget(webhook.id)
        return Response(status_code=204)

    async def regenerate(self, request: Request) -> Response:
        current = await self._own(request.path_params["id"])
        changed = attrs.evolve(current, path=new_path(), updated_at=now_text())
        stored = await self.store.update(changed)
        return success({"webhook": stored.to_json(_base_url(request))})

    async def test(self, request: Request) -> Response:
        webhook = await self.store.get(request.path_params["id"])
        body = await object_body(request, self.max_body_bytes, required=False)
        sample = _sample(webhook, body)
        with validation_status(422):
            execution = await self.dispatcher.test(webhook, sample, user_of(request))
        return success(finished(execution))

    async def logs(self, request: Request) -> Response:
        webhook = await self.store.get(request.path_params["id"])
        limit = query_int(request, "limit", default=100, minimum=1, maximum=1000)
        entries = await self.store.logs(webhook.id, limit=limit)
        return success({"logs": [entry.to_json() for entry in entries]})

    async def _workflow(self, body: Json) -> Workflow:
        workflow_id = field(body, "workflowId", str)
        if not workflow_id:
            raise _invalid("workflowId", "is required: the workflow the webhook starts")
        try:
            return await self.engine.get_workflow(workflow_id)
        except ExecutionNotFoundError:
            raise _invalid("workflowId", f"no workflow {workflow_id!r}") from None

    async def _own(self, webhook_id: str) -> Webhook:
        """The webhook, if the API may change it (not one a workflow's node declares), once the
        paths nodes declare are up to date (a path a node took is in use)."""
        await self.dispatcher.nodes.refresh()
        webhook = await self.store.get(webhook_id)
        if webhook.source == "node":
            message = (
                f"webhook {webhook_id!r} is declared by node {webhook.node_id!r} of workflow"
                f" {webhook.workflow_id!r}: change that node's config instead"
            )
            raise ApiError("CONFLICT", message)
        return webhook

    # -- /webhook/{path} -------------------------------------------------------------------

    async def receive(self, request: Request) -> Response:
        incoming = WebhookRequest(
            method=request.method,
            path=request.path_params["path"],
            headers=dict(request.headers.items()),
            query=multi_dict(request.query_params.multi_items()),
            body=await _raw_body(request, self.max_body_bytes),
            client=request.client.host if request.client else None,
        )
        answer = await self.dispatcher.dispatch(incoming)
        if answer.text:
            return Response(answer.body, status_code=answer.status, headers=dict(answer.headers))
        content = dump(answer.body)
        return Response(
            content,
            status_code=answer.status,
            headers=dict(answer.headers),
            media_type="application/json",
        )


def _invalid(name: str, message: str) -> ApiError:
    details = [{"field": name, "message": message}]
    return ApiError("VALIDATION_ERROR", f"{name}: {message}", details, status=422)


def _writable(body: Json, current: Webhook | None = None) -> Json:
    """The settings ``body`` writes. A field the API does not know is refused (a typo such as
    ``authenticaton`` would leave the webhook unguarded), as is a change to ``id`` or
    ``source``; the other read-only fields are ignored (a read-modify-write sends them back)."""
    problems = [
        {"field": name, "message": "is not a webhook field"} for name in sorted(set(body) - _FIELDS)
    ]
    for name in ("id", "source"):
        if current is not None and body.get(name) not in (None, getattr(current, name)):
            message = f"cannot change (it is {getattr(current, name)!r})"
            problems.append({"field": name, "message": message})
    if problems:
        raise WorkflowValidationError(problems, message=f"invalid webhook: {problems[0]['field']}")
    return {k: v for k, v in body.items() if k not in _READ_ONLY}


def _trigger_node(workflow: Workflow, node_id: Any) -> str | None:
    """``node_id`` (a webhook_trigger of the workflow), else the workflow's first one, if any
    (without one, the run starts where the engine starts a webhook-mode run)."""
    triggers = [n.id for n in workflow.nodes if n.type == "webhook_trigger"]
    if node_id is None:
        return triggers[0] if triggers else None
    if node_id not in triggers:
        raise _invalid("nodeId", f"{node_id!r} is no webhook_trigger node of the workflow")
    return str(node_id)


def _sample(webhook: Webhook, body: Json) -> WebhookRequest:
    headers = field(body, "headers", dict, default={})
    query = field(body, "query", dict, default={})
    raw = json.dumps(body.get("body")).encode() if body.get("body") is not None else b""
    return WebhookRequest(
        method=field(body, "method", str, default=webhook.method).upper(),
        path=webhook.path,
        headers={"content-type": "application/json", **_lower(headers)},
        query=query,
        body=raw,
    )


def _lower(headers: Json) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


async def _raw_body(request: Request, limit: int) -> bytes:
    """The body's bytes, refused with 413 past ``limit`` (declared or counted)."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise ApiError("PAYLOAD_TOO_LARGE", f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError("PAYLOAD_TOO_LARGE", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"
