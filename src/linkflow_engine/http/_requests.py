"""Reading requests: bounded JSON bodies and typed fields, each problem a 400 naming its field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from starlette.requests import Request

from .._exceptions import WorkflowValidationError
from ..runtime._queries import MAX_COUNT, parse_count
from ._envelope import ApiError, Json

__all__ = ["field", "json_body", "object_body", "query_bool", "query_int", "string_list"]

T = TypeVar("T")

_KIND_NAMES = {
    bool: "a boolean",
    str: "a string",
    int: "an integer",
    dict: "an object",
    list: "a list",
}


async def json_body(request: Request, limit: int) -> Any:
    """The parsed body (``None`` when empty); 413 past ``limit`` bytes, 400 when not JSON.

    The declared Content-Length is checked first (cheap refusal) and the bytes are counted
    while reading too, since a chunked body declares no length and a client can lie.
    """
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        raise ApiError.field("Content-Length", "must be a number of bytes")
    if declared is not None and int(declared) > limit:
        raise _too_large(limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return _parse(b"".join(chunks))


def _too_large(limit: int) -> ApiError:
    return ApiError("PAYLOAD_TOO_LARGE", f"the body is larger than {limit} bytes")


MAX_NESTING = 254
"""Levels of arrays and objects a body may nest: what orjson writes back, and well within the
recursion limit of what walks a document (validation copies it, storage encrypts it)."""


def _parse(raw: bytes) -> Any:
    # orjson refuses what the stdlib lets through and an answer could not carry back: NaN and
    # Infinity, numbers past a double (1e400), lone surrogates ("\ud800"), and nesting past
    # 1024 levels; bad UTF-8 too.
    if not raw.strip():
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError("INVALID_JSON", f"the body is not valid JSON: {error}") from None
    # Fewer opening brackets than the limit cannot nest past it (counted in C, microseconds);
    # else orjson, which stops past MAX_NESTING levels, says whether the body does.
    if raw.count(b"[") + raw.count(b"{") > MAX_NESTING:
        try:
            orjson.dumps(body)
        except orjson.JSONEncodeError:
            raise ApiError.field("body", f"nests deeper than {MAX_NESTING} levels") from None
    return body


async def object_body(request: Request, limit: int, *, required: bool = True) -> Json:
    """The body as a JSON object; an empty body is ``{}`` unless ``required``."""
    body = await json_body(request, limit)
    if body is None and not required:
        return {}
    if not isinstance(body, dict):
        raise ApiError.field("body", "must be a JSON object")
    return body


def field(
    data: Mapping[str, Any], name: str, kind: type[T], *, prefix: str = "", default: Any = None
) -> Any:
    """``data[name]`` if it is a ``kind`` (``None`` and absent give ``default``)."""
    value = data.get(name)
    if value is None:
        return default
    # bool is an int subclass: an integer field must not take ``true``, nor the reverse.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ApiError.field(prefix + name, f"must be {_KIND_NAMES.get(kind, kind.__name__)}")
    if isinstance(value, str) and "\x00" in value:  # no storage keeps one in text
        raise ApiError.field(prefix + name, "must not contain a NUL character")
    return value


def string_list(data: Mapping[str, Any], name: str, *, prefix: str = "") -> list[str]:
    value = field(data, name, list, prefix=prefix, default=[])
    if not all(isinstance(item, str) for item in value):
        raise ApiError.field(prefix + name, "must be a list of strings")
    return list(value)


_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def query_bool(request: Request, name: str, *, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ApiError.field(name, f"{value!r} is not true or false")


def query_int(
    request: Request, name: str, *, default: int, minimum: int, maximum: int = MAX_COUNT
) -> int:
    """A whole-number query value, checked as the Python API checks counts (digits only)."""
    value = request.query_params.get(name)
    if value is None:
        return default
    try:
        return parse_count(value, name, minimum=minimum, maximum=maximum)
    except WorkflowValidationError as error:
        raise ApiError.field(name, error.details[0]["message"]) from None
