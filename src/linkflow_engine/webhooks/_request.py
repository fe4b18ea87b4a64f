"""An incoming webhook request, framework-free, and the trigger input built from it.

The body is parsed by its content type: JSON (``application/json`` and ``+json`` types) into
values, HTML forms (``application/x-www-form-urlencoded``) into an object of fields, anything
else into text. A field or query parameter given several times becomes a list.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

import attrs
import orjson

from ._model import MASK

__all__ = ["BodyError", "WebhookRequest", "trigger_input"]


class BodyError(ValueError):
    """The body does not parse as its content type says."""


@attrs.frozen(kw_only=True)
class WebhookRequest:
    """What the dispatcher needs of a request. ``headers`` have lower-case names."""

    method: str
    path: str
    headers: Mapping[str, str] = attrs.Factory(dict)
    query: Mapping[str, Any] = attrs.Factory(dict)
    body: bytes = b""
    client: str | None = None


def multi_dict(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Pairs as an object; a name given several times maps to the list of its values."""
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name not in found:
            found[name] = value
        elif isinstance(found[name], list):
            found[name].append(value)
        else:
            found[name] = [found[name], value]
    return found


def parse_body(body: bytes, content_type: str) -> Any:
    """The body as the trigger sees it (None when empty)."""
    if not body.strip():
        return None
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:  # orjson: NaN, Infinity, 1e400 and lone surrogates are not JSON (see http)
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BodyError("the body is not valid JSON") from None
    text = body.decode("utf-8", errors="replace")
    if media == "application/x-www-form-urlencoded":
        return multi_dict(parse_qsl(text, keep_blank_values=True))
    return text


def trigger_input(
    request: WebhookRequest, *, raw_body: bool, secret_headers: Iterable[str] = ()
) -> dict[str, Any]:
    """``{headers, query, body, method, path}`` (+ ``rawBody`` text when asked for), with the
    headers that carry a secret masked: the input is stored with the execution."""
    hidden = {name.lower() for name in secret_headers}
    headers = {k: MASK if k in hidden else v for k, v in request.headers.items()}
    data: dict[str, Any] = {
        "headers": headers,
        "query": dict(request.query),
        "body": parse_body(request.body, request.headers.get("content-type", "")),
        "method": request.method,
        "path": request.path,
    }
    if raw_body:
        data["rawBody"] = request.body.decode("utf-8", errors="replace")
    return data
