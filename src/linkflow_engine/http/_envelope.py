"""The JSON envelopes of every answer, and the one table from error codes to HTTP statuses.

Success: ``{success: true, data}`` (lists add ``pagination``). Failure:
``{success: false, error: {code, message, details: [{field, message}]}}``. Handlers raise
:class:`ApiError` or let the engine's :class:`LinkflowError` through; :func:`guarded` turns both
into the error envelope, and anything unexpected into a generic 500 (logged here, never shown).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .._exceptions import LinkflowError, WorkflowValidationError
from .._stored_values import dump

__all__ = [
    "STATUS_BY_CODE",
    "ApiError",
    "Endpoint",
    "Json",
    "failure",
    "guarded",
    "http_exception",
    "success",
    "validation_status",
]

logger = logging.getLogger("linkflow_engine.http")

Json = dict[str, Any]
Endpoint = Callable[[Request], Awaitable[Response]]

STATUS_BY_CODE: Mapping[str, int] = {
    "VALIDATION_ERROR": 400,
    "INVALID_JSON": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "RATE_LIMITED": 429,
    "INTERNAL_ERROR": 500,
    "STORAGE_ERROR": 503,
}

_CODE_BY_STATUS = {status: code for code, status in STATUS_BY_CODE.items()}


class ApiError(Exception):
    """An answer other than success: ``status`` defaults to the code's entry in the table."""

    def __init__(
        self,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or []
        self.status = status if status is not None else STATUS_BY_CODE.get(code, 400)
        self.headers = dict(headers or {})

    @classmethod
    def field(cls, field: str, message: str) -> ApiError:
        """A 400 about one request field."""
        return cls(
            "VALIDATION_ERROR", f"{field}: {message}", [{"field": field, "message": message}]
        )

    @classmethod
    def of(cls, error: LinkflowError, *, status: int | None = None) -> ApiError:
        raw = error.to_dict().get("details")
        # The envelope's details are always a list of {field, message}; other shapes (an
        # expression's location) are already summed up in the message.
        details = [d for d in raw if isinstance(d, dict)] if isinstance(raw, list) else []
        message = error.message
        if isinstance(error, WorkflowValidationError) and (status or 400) == 400:
            # The engine words these for documents; here they are about the request.
            message = message.replace("invalid workflow", "invalid request", 1)
        return cls(error.code, message, details, status=status)

    def response(self) -> Response:
        return failure(self.code, self.message, self.details, self.status, self.headers)


class _Json(JSONResponse):
    """JSON without the spaces, written as storage writes it (a date becomes its ISO text, NaN
    null: see :mod:`linkflow_engine._stored_values`)."""

    def render(self, content: Any) -> bytes:
        return dump(content).encode("utf-8")


def success(data: Any, *, status: int = 200, pagination: Json | None = None) -> Response:
    body: Json = {"success": True, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    return _Json(body, status_code=status)


def failure(
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    error = {"code": code, "message": message, "details": details or []}
    return _Json(
        {"success": False, "error": error},
        status_code=status if status is not None else STATUS_BY_CODE.get(code, 400),
        headers=dict(headers or {}),
    )


@contextmanager
def validation_status(status: int) -> Iterator[None]:
    """Inside: a WorkflowValidationError answers ``status`` (422 for documents) not 400."""
    try:
        yield
    except WorkflowValidationError as error:
        raise ApiError.of(error, status=status) from None


def guarded(handler: Endpoint, *, repeats: bool = False) -> Endpoint:
    """The handler, answering with the error envelope whatever it raises. Unless ``repeats``
    (a webhook's query, passed on as it came), a query name given twice is refused."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            _refuse_nul(request)
            if not repeats:
                _refuse_repeats(request)
            return await handler(request)
        except ApiError as error:
            return error.response()
        except LinkflowError as error:
            return ApiError.of(error).response()
        except Exception:
            # Bad input never lands here: this is a bug or a broken storage. The client gets
            # no details (they could leak internals); the log gets the traceback.
            logger.exception("unexpected error in %s %s", request.method, request.url.path)
            return failure("INTERNAL_ERROR", "internal server error", status=500)

    return endpoint


def _refuse_nul(request: Request) -> None:
    """No id, path or query value holds a NUL character: no storage keeps one in text."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if isinstance(value, str) and "\x00" in value:
            raise ApiError.field(name, "must not contain a NUL character")


def _refuse_repeats(request: Request) -> None:
    """Each query name once: of two values, one would be dropped without a word."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise ApiError.field(name, "is given more than once; give one value")
        seen.add(name)


async def http_exception(request: Request, exc: Exception) -> Response:
    """Routing's own errors (unknown path 404, wrong method 405) in the envelope."""
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    code = _CODE_BY_STATUS.get(exc.status_code, "BAD_REQUEST")
    message = {404: "no such endpoint", 405: "method not allowed"}.get(exc.status_code, exc.detail)
    return failure(code, message, status=exc.status_code, headers=exc.headers)
