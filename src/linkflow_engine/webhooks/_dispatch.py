"""From an incoming request to an execution and the answer, in the order that costs least:

path (404) -> method (405) -> client IP (403) -> rate limit (429) -> authentication (401) ->
body (400) -> execution in mode ``webhook`` -> the answer of the response mode. Every answer to
a known webhook is appended to its log; nothing starts unless every check passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._exceptions import ExecutionNotFoundError
from ._auth import WebhookAuthError, verify_request
from ._guards import RateLimiter, ip_allowed, retry_after
from ._model import RESERVED_HEADERS, Webhook, WebhookLogEntry, now_text
from ._request import BodyError, WebhookRequest, trigger_input
from ._sync import NodeWebhooks
from .base import WebhookStore

if TYPE_CHECKING:
    from ..graph import Workflow
    from ..runtime import Engine, Execution

__all__ = ["WebhookAnswer", "WebhookDispatcher"]

_FINISHED = ("execution.completed", "execution.failed", "execution.cancelled")
_EXECUTION_HEADER = "X-Linkflow-Execution-Id"


@attrs.frozen(kw_only=True)
class WebhookAnswer:
    """The HTTP answer: ``body`` is JSON unless ``text``; ``error`` goes to the log only."""

    status: int
    body: Any
    headers: Mapping[str, str] = attrs.Factory(dict)
    text: bool = False
    execution_id: str | None = None
    error: str | None = None


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, **headers: str) -> None:
        super().__init__(message)
        self.answer = WebhookAnswer(
            status=status,
            body={"success": False, "error": {"code": code, "message": message, "details": []}},
            headers={k.replace("_", "-"): v for k, v in headers.items()},
            error=message,
        )


class WebhookDispatcher:
    """Serves ``/webhook/{path}`` for one engine and one webhook store."""

    def __init__(
        self, engine: Engine, store: WebhookStore, *, limiter: RateLimiter | None = None
    ) -> None:
        self.engine = engine
        self.store = store
        self.nodes = NodeWebhooks(engine, store)
        self.limiter = limiter if limiter is not None else RateLimiter()

    async def dispatch(self, request: WebhookRequest) -> WebhookAnswer:
        """The answer to ``request`` (never raises for a bad request: it answers it)."""
        try:
            webhook, workflow = await self.resolve(request.path)
        except _Refused as refused:
            return refused.answer
        try:
            answer = await self._serve(webhook, workflow, request)
        except _Refused as refused:
            answer = refused.answer
        entry = WebhookLogEntry(
            timestamp=now_text(),
            method=request.method,
            status=answer.status,
            execution_id=answer.execution_id,
            error=answer.error,
            ip=request.client,
        )
        await self.store.add_log(webhook.id, entry)
        return answer

    async def resolve(self, path: str) -> tuple[Webhook, Workflow]:
        """The active webhook at ``path`` and its workflow, which must be active too."""
        await self.nodes.refresh()
        webhook = await self.store.find_by_path(path)
        if webhook is None or not webhook.is_active:
            raise _Refused(404, "NOT_FOUND", f"no active webhook at {path!r}")
        try:
            workflow = await self.engine.get_workflow(webhook.workflow_id)
        except ExecutionNotFoundError:
            raise _Refused(404, "NOT_FOUND", f"no active webhook at {path!r}") from None
        if workflow.status != "active":
            raise _Refused(404, "NOT_FOUND", f"no active webhook at {path!r}")
        if webhook.node_id is not None and all(n.id != webhook.node_id for n in workflow.nodes):
            # Its node was removed from the workflow since: nothing it could start.
            raise _Refused(404, "NOT_FOUND", f"no active webhook at {path!r}")
        return webhook, workflow

    async def _serve(
        self, webhook: Webhook, workflow: Workflow, request: WebhookRequest
    ) -> WebhookAnswer:
        self._check(webhook, request)
        try:
            data = trigger_input(
                request,
                raw_body=bool(webhook.options.get("rawBody")),
                secret_headers=_secret_headers(webhook),
            )
        except BodyError as error:
            raise _Refused(400, "INVALID_JSON", str(error)) from None
        execution = await self.engine.execute(
            workflow,
            data,
            start_node_id=webhook.node_id,
            mode="webhook",
            triggered_by=f"webhook:{webhook.id}",
            wait=False,
        )
        if webhook.response_mode == "immediate":
            await self.store.record_trigger(webhook.id, now_text())
            return _answer(webhook.response_code or 202, execution.id, "running", None)
        # Subscribed before the first await: the run cannot have finished unseen.
        finished = anyio.Event()
        with self.engine.subscribe(
            lambda event: finished.set(), types=_FINISHED, execution_id=execution.id, inline=True
        ):
            await self.store.record_trigger(webhook.id, now_text())
            return await self._after_run(webhook, execution.id, finished)

    def _check(self, webhook: Webhook, request: WebhookRequest) -> None:
        allowed = webhook.allowed_methods
        if request.method not in allowed:
            message = f"{request.method} is not allowed here; use {', '.join(allowed)}"
            raise _Refused(405, "METHOD_NOT_ALLOWED", message, Allow=", ".join(allowed))
        if not ip_allowed(request.client, webhook.options.get("ipWhitelist") or ()):
            raise _Refused(403, "FORBIDDEN", f"client address {request.client} is not allowed")
        limit = webhook.options.get("rateLimitPerMinute")
        wait = self.limiter.admit(webhook.id, limit) if limit else None
        if wait is not None:
            message = f"more than {limit} requests in a minute"
            raise _Refused(429, "RATE_LIMITED", message, Retry_After=retry_after(wait))
        try:
            verify_request(webhook.authentication, request.headers, request.body)
        except WebhookAuthError as error:
            challenge = {"WWW_Authenticate": error.challenge} if error.challenge else {}
            refused = _Refused(401, "UNAUTHORIZED", "authentication failed", **challenge)
            # The client learns nothing about why; the webhook's log does.
            raise _with_log_error(refused, error.reason) from None

    async def _after_run(
        self, webhook: Webhook, execution_id: str, finished: anyio.Event
    ) -> WebhookAnswer:
        timeout = webhook.options.get("timeout")
        with anyio.move_on_after(timeout / 1000 if timeout else None):
            await finished.wait()
        if not finished.is_set():
            # The run goes on; the client gets the id to follow it.
            answer = _answer(504, execution_id, "running", None, success=False)
            return attrs.evolve(answer, error=f"no answer within {timeout} ms")
        execution = await self.engine.get_execution(execution_id, include_data=True)
        if execution.status.value != "completed":
            return _failed(execution)
        if webhook.response_mode == "custom":
            return _custom(webhook, execution_id)
        output = last_output(execution)
        return _answer(webhook.response_code or 200, execution_id, "completed", output)

    async def test(self, webhook: Webhook, sample: WebhookRequest, user: str | None) -> Execution:
        """Run the webhook's workflow (active or not) on ``sample``, skipping every check."""
        data = trigger_input(sample, raw_body=bool(webhook.options.get("rawBody")))
        return await self.engine.execute(
            webhook.workflow_id,
            data,
            start_node_id=webhook.node_id,
            mode="webhook",
            triggered_by=user,
        )


def last_output(execution: Execution) -> Any:
    """The output of the leaf node that finished last (``outputs`` keeps completion order)."""
    return list(execution.outputs.values())[-1] if execution.outputs else None


def _answer(
    status: int, execution_id: str, state: str, data: Any, *, success: bool = True
) -> WebhookAnswer:
    body = {"success": success, "executionId": execution_id, "status": state, "data": data}
    headers = {_EXECUTION_HEADER: execution_id}
    return WebhookAnswer(status=status, body=body, headers=headers, execution_id=execution_id)


def _failed(execution: Execution) -> WebhookAnswer:
    answer = _answer(500, execution.id, execution.status.value, None, success=False)
    error = execution.error.to_dict() if execution.error is not None else None
    message = error.get("message") if error else execution.status.value
    return attrs.evolve(answer, body={**answer.body, "error": error}, error=message)


def _custom(webhook: Webhook, execution_id: str) -> WebhookAnswer:
    body = webhook.response_body
    # Settings stored before the server reserved a header may still name it: the server's wins.
    headers = {
        name: value
        for name, value in webhook.response_headers.items()
        if name.lower() not in RESERVED_HEADERS
    }
    headers[_EXECUTION_HEADER] = execution_id
    if isinstance(body, str) and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "text/plain; charset=utf-8"
    return WebhookAnswer(
        status=webhook.response_code or 200,
        body=body,
        headers=headers,
        text=isinstance(body, str),
        execution_id=execution_id,
    )


def _secret_headers(webhook: Webhook) -> list[str]:
    kind = webhook.authentication.get("type")
    if kind in ("header", "jwt"):
        return [str(webhook.authentication["headerName"])]
    return ["authorization"] if kind == "basic" else []


def _with_log_error(refused: _Refused, reason: str) -> _Refused:
    refused.answer = attrs.evolve(refused.answer, error=reason)
    return refused
