"""The Executions API: execute, list, stats, get, cancel, retry, resume."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._exceptions import WorkflowValidationError
from ..runtime import Execution, ExecutionMode
from ._envelope import ApiError, Json, guarded, success, validation_status
from ._requests import field, object_body, query_bool, string_list

if TYPE_CHECKING:
    from ..graph import Workflow
    from ..runtime import Engine

__all__ = ["ExecutionsApi", "user_of"]

ASYNC_MESSAGE = "Execution started. Use WebSocket or webhook for updates."


def user_of(request: Request) -> str | None:
    """The user id the API key maps to (``None`` when the app runs without keys)."""
    user: str | None = request.scope.get("linkflow.user")
    return user


def pagination(total: int, limit: int, offset: int) -> Json:
    return {"total": total, "limit": limit, "offset": offset, "hasMore": offset + limit < total}


class ExecutionsApi:
    """The handlers of ``/execute`` and ``/executions/...`` over one engine."""

    def __init__(self, engine: Engine, *, max_body_bytes: int) -> None:
        self.engine = engine
        self.max_body_bytes = max_body_bytes
        # Callbacks need an engine that can deliver them (see _webhook).
        self._callbacks = "webhook_url" in inspect.signature(engine.execute).parameters

    def routes(self) -> list[Route]:
        return [
            Route("/execute", guarded(self.execute), methods=["POST"]),
            Route("/executions", guarded(self.index), methods=["GET"]),
            Route("/executions/stats", guarded(self.stats), methods=["GET"]),
            Route("/executions/{id}", guarded(self.get), methods=["GET"]),
            Route("/executions/{id}/cancel", guarded(self.cancel), methods=["POST"]),
            Route("/executions/{id}/retry", guarded(self.retry), methods=["POST"]),
            Route("/executions/{id}/resume", guarded(self.resume), methods=["POST"]),
        ]

    # -- running ---------------------------------------------------------------------------

    async def execute(self, request: Request) -> Response:
        body = await object_body(request, self.max_body_bytes)
        options = field(body, "options", dict, default={})
        workflow = await self._workflow(body)
        debug = field(options, "debug", bool, prefix="options.", default=False)
        # A debug run pauses until someone resumes it: no request could wait for that.
        background = field(options, "async", bool, prefix="options.", default=False) or debug
        with _named_as_sent({name: f"options.{name}" for name in _OPTION_FIELDS}):
            execution = await self.engine.execute(
                workflow,
                options.get("inputData"),
                start_node_id=field(options, "startNodeId", str, prefix="options."),
                run_partial=field(options, "runPartial", bool, prefix="options.", default=False),
                mode=ExecutionMode.API,
                triggered_by=user_of(request),
                debug=debug,
                breakpoints=string_list(options, "breakpoints", prefix="options."),
                wait=not background,
                **self._webhook(options, "options."),
            )
        return success(started(execution) if background else finished(execution))

    async def _workflow(self, body: Json) -> Workflow:
        if body.get("workflow") is not None:
            document = field(body, "workflow", dict)
            with validation_status(422):
                return self.engine.validate(document)
        workflow_id = field(body, "workflowId", str)
        if workflow_id is None:
            raise ApiError.field("workflow", "send a workflow document or a workflowId")
        return await self.engine.get_workflow(workflow_id)

    def _webhook(self, options: Json, prefix: str) -> dict[str, Any]:
        url = field(options, "webhookUrl", str, prefix=prefix)
        if url is None:
            return {}
        if not self._callbacks:
            raise ApiError.field(prefix + "webhookUrl", "webhookUrl is not supported yet")
        return {"webhook_url": url}

    async def retry(self, request: Request) -> Response:
        body = await object_body(request, self.max_body_bytes, required=False)
        from_node = field(body, "fromNode", str) or field(body, "fromNodeId", str)
        sent_as = "fromNode" if "fromNode" in body or "fromNodeId" not in body else "fromNodeId"
        with _named_as_sent({"fromNode": sent_as}):
            execution = await self.engine.retry(
                request.path_params["id"],
                from_node=from_node,
                input_overrides=field(body, "inputOverrides", dict),
                triggered_by=user_of(request),
                wait=False,
                **self._webhook(body, ""),
            )
        return success(
            {
                "executionId": execution.id,
                "originalExecutionId": execution.original_execution_id,
                "status": execution.status.value,
            }
        )

    # -- control ---------------------------------------------------------------------------

    async def cancel(self, request: Request) -> Response:
        execution = await self.engine.cancel(request.path_params["id"])
        cancelled_at = execution.to_dict(include_data=False).get("cancelledAt")
        summary = {
            "id": execution.id,
            "status": execution.status.value,
            "cancelledAt": cancelled_at,
        }
        return success({"execution": summary})

    async def resume(self, request: Request) -> Response:
        body = await object_body(request, self.max_body_bytes, required=False)
        step = field(body, "step", bool, default=False)
        execution = await self.engine.resume(request.path_params["id"], step=step)
        return success({"execution": execution.summary_dict()})

    # -- history ---------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        query = request.query_params
        # Checked by the engine, every bad value at once, as from Python.
        limit_text, offset_text = query.get("limit", "20"), query.get("offset", "0")
        executions, total = await self.engine.list_executions(
            workflow_id=query.get("workflowId"),
            status=query.get("status"),
            mode=query.get("mode"),
            started_after=query.get("startedAfter"),
            started_before=query.get("startedBefore"),
            limit=limit_text,
            offset=offset_text,
        )
        limit, offset = int(limit_text), int(offset_text)
        return success(
            {"executions": [execution.summary_dict() for execution in executions]},
            pagination=pagination(total, limit, offset),
        )

    async def stats(self, request: Request) -> Response:
        stats = await self.engine.execution_stats(
            workflow_id=request.query_params.get("workflowId"),
            period=request.query_params.get("period", "day"),
        )
        return success({"stats": stats})

    async def get(self, request: Request) -> Response:
        include_data = query_bool(request, "includeData")
        execution = await self.engine.get_execution(
            request.path_params["id"], include_data=include_data
        )
        return success({"execution": execution.to_dict(include_data=include_data)})


def finished(execution: Execution) -> Json:
    """The synchronous answer: the spec's fields, plus ``error`` when the run failed."""
    data: Json = {
        "executionId": execution.id,
        "status": execution.status.value,
        "outputs": execution.outputs,
        "duration": execution.duration,
        "nodeCount": execution.node_count,
    }
    if execution.error is not None:
        data["error"] = execution.error.to_dict()
    return data


def started(execution: Execution) -> Json:
    return {"executionId": execution.id, "status": execution.status.value, "message": ASYNC_MESSAGE}


_OPTION_FIELDS = ("startNodeId", "webhookUrl", "breakpoints")
"""The engine's names of the fields a request sends under ``options``."""


@contextlib.contextmanager
def _named_as_sent(names: Mapping[str, str]) -> Iterator[None]:
    """The engine's validation errors about the request's values, each field named as the
    request sent it (``startNodeId`` is ``options.startNodeId``; ``breakpoints[1]`` is
    ``options.breakpoints[1]``). Fields of a workflow document are left as they are."""
    try:
        yield
    except WorkflowValidationError as error:
        details = [{**d, "field": _renamed(d["field"], names)} for d in error.details]
        if details == error.details:
            raise
        raise WorkflowValidationError(details) from None


def _renamed(name: str, names: Mapping[str, str]) -> str:
    head, bracket, rest = name.partition("[")
    return names[head] + bracket + rest if head in names else name
