"""The ``http_request`` node: one HTTP exchange through the engine's shared client.

Every hop is checked against the engine's outbound policy before it is sent (redirects are
followed here, never by httpx, so each Location is checked too); the response is streamed and
cut off at ``maxResponseBytes``; failures become the documented codes: a non-2xx answer
``HTTP_ERROR`` (429: ``RATE_LIMITED`` with its Retry-After), a timeout ``TIMEOUT``, a refused,
unresolvable or unreachable host ``HTTP_ERROR``. With ``retry.enabled`` the node retries the
statuses of ``retry.retryOn`` (and timeouts and connection failures) itself, waiting on the
engine's clock as the engine's retry policy says; node-level ``retryOnFail`` comes on top.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import anyio
import attrs

from ..._exceptions import HttpError, NodeError, NodeTimeoutError, RateLimitedError
from ...outbound import OutboundRefused
from .._context import NodeContext
from .._registry import NodeType

if TYPE_CHECKING:
    import httpx

    from ...credentials._auth import RequestAuth

__all__ = ["NODE_TYPES"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
REDIRECTS = frozenset({301, 302, 303, 307, 308})
DEFAULT_RETRY_ON = (429, 500, 502, 503)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
ERROR_RESPONSE_CHARS = 2048  # how much of a failed response its error keeps
# Sent along a redirect only to the same origin: a redirect must not hand credentials away.
_PRIVATE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


@attrs.frozen(kw_only=True)
class RequestSpec:
    """A resolved ``http_request`` config, checked."""

    url: str
    method: str = "GET"
    headers: dict[str, str] = attrs.Factory(dict)
    query: dict[str, Any] = attrs.Factory(dict)
    content: bytes | None = None
    timeout: float = 30.0
    follow_redirects: bool = True
    max_redirects: int = 5
    max_bytes: int = DEFAULT_MAX_BYTES
    response_format: str = "auto"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RequestSpec:
        url, method = config.get("url"), str(config.get("method") or "GET").upper()
        if not isinstance(url, str) or not url:
            raise _invalid("config.url must be a non-empty string")
        if method not in METHODS:
            raise _invalid(f"config.method must be one of {', '.join(METHODS)}")
        headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
        content, content_type = _encode_body(config.get("body"), config.get("bodyType"))
        if content_type and not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = content_type
        return cls(
            url=url,
            method=method,
            headers=headers,
            query=dict(config.get("query") or {}),
            content=content,
            timeout=_positive(config.get("timeout", 30000), "timeout") / 1000,
            follow_redirects=bool(config.get("followRedirects", True)),
            max_redirects=int(_positive(config.get("maxRedirects", 5), "maxRedirects", zero=True)),
            max_bytes=int(_positive(config.get("maxResponseBytes", DEFAULT_MAX_BYTES), "limit")),
            response_format=str(config.get("responseFormat") or "auto"),
        )


@attrs.frozen(kw_only=True)
class RetrySettings:
    """``retry: {enabled, maxRetries, retryOn, retryDelay}``: what the node retries itself."""

    max_retries: int = 0
    retry_on: frozenset[int] = frozenset(DEFAULT_RETRY_ON)
    delay: float = 1.0

    @classmethod
    def from_config(cls, retry: Any) -> RetrySettings:
        if not isinstance(retry, Mapping) or not retry.get("enabled"):
            return cls()
        return cls(
            max_retries=int(_positive(retry.get("maxRetries", 3), "retry.maxRetries", zero=True)),
            retry_on=frozenset(int(s) for s in retry.get("retryOn", DEFAULT_RETRY_ON)),
            delay=_positive(retry.get("retryDelay", 1000), "retry.retryDelay", zero=True) / 1000,
        )

    def covers(self, error: NodeError) -> bool:
        """Whether another attempt may help: a listed status, a timeout, a lost connection."""
        if isinstance(error, NodeTimeoutError):
            return True
        details = error.details if isinstance(error.details, Mapping) else {}
        status = details.get("statusCode")
        if status is not None:
            return status in self.retry_on
        return "cause" in details  # connection failures; never refusals or size limits


async def http_request(ctx: NodeContext) -> Any:
    from ...runtime._retry import RetryPolicy  # runtime imports the nodes: import on use

    spec = RequestSpec.from_config(ctx.config)
    auth = await _credential_auth(ctx)
    retry = RetrySettings.from_config(ctx.config.get("retry"))
    policy = RetryPolicy(max_retries=retry.max_retries, delay=retry.delay)
    attempt, refreshed = 0, False
    while True:
        attempt += 1
        try:
            return await _attempt(ctx, spec, auth)
        except HttpError as error:
            if not refreshed and _token_rejected(error, auth):
                # An OAuth2 token the API no longer accepts (revoked, rotated): fetch a new one
                # and try once more; this is not a retry of the request's own policy.
                refreshed, attempt = True, attempt - 1
                auth = await _credential_auth(ctx, refresh=True)
                continue
            if attempt > retry.max_retries or not retry.covers(error):
                raise
            wait = policy.wait_before(attempt, error)
            ctx.log("warning", f"{error.message}; retrying in {wait:.2f}s", code=error.code)
            await ctx.sleep(wait)
        except (RateLimitedError, NodeTimeoutError) as error:
            if attempt > retry.max_retries or not retry.covers(error):
                raise
            wait = policy.wait_before(attempt, error)
            ctx.log("warning", f"{error.message}; retrying in {wait:.2f}s", code=error.code)
            await ctx.sleep(wait)


async def _credential_auth(ctx: NodeContext, *, refresh: bool = False) -> RequestAuth | None:
    if ctx.config.get("credential") is None:
        return None
    from ...credentials._auth import request_auth

    return request_auth(await ctx.credential(refresh=refresh))


def _token_rejected(error: HttpError, auth: RequestAuth | None) -> bool:
    details = error.details if isinstance(error.details, dict) else {}
    return auth is not None and auth.oauth2 and details.get("statusCode") == 401


async def _attempt(ctx: NodeContext, spec: RequestSpec, auth: RequestAuth | None) -> Any:
    # One deadline for every hop and the whole body: httpx's timeouts are per read, and a
    # server dripping a byte a second would never trip them.
    with anyio.move_on_after(spec.timeout) as scope:
        return await _exchange(ctx, spec, auth)
    if scope.cancelled_caught:
        raise NodeTimeoutError(
            f"{spec.method} {_shown(spec.url)} timed out after {spec.timeout * 1000:g} ms",
            details={"timeout": spec.timeout * 1000, "url": _shown(spec.url)},
        )
    raise AssertionError("unreachable")  # pragma: no cover


async def _exchange(ctx: NodeContext, spec: RequestSpec, auth: RequestAuth | None) -> Any:
    method, url, content = spec.method, spec.url, spec.content
    headers = {**(auth.headers if auth else {}), **spec.headers}
    # None when empty: httpx would replace the URL's own query with an empty one.
    params: dict[str, Any] | None = {**spec.query, **(auth.params if auth else {})} or None
    origin = _origin(url)
    for _ in range(spec.max_redirects + 1):
        await _check_outbound(ctx, url)
        response, body = await _send(ctx.http, spec, method, url, headers, params, content)
        location = response.headers.get("location")
        if not (spec.follow_redirects and response.status_code in REDIRECTS and location):
            return _outcome(spec, method, response, body)
        url = str(response.url.join(location))
        params = None  # the Location carries its own query
        if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
            method, content = ("GET" if method != "HEAD" else "HEAD"), None
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        if _origin(url) != origin:
            secret = {k.lower() for k in (auth.headers if auth else {})} | _PRIVATE_HEADERS
            headers = {k: v for k, v in headers.items() if k.lower() not in secret}
    raise HttpError(
        f"{spec.method} {_shown(spec.url)}: more than {spec.max_redirects} redirects",
        details={"url": _shown(spec.url), "reason": "too many redirects"},
    )


async def _check_outbound(ctx: NodeContext, url: str) -> None:
    try:
        await ctx.outbound.check(url)
    except OutboundRefused as refused:
        raise _refused(url, refused) from None


def _refused(url: str, refused: OutboundRefused) -> HttpError:
    """HTTP_ERROR for a refusal, whether the check before sending or the connection (the
    engine's client checks again when connecting) said it."""
    return HttpError(
        f"refused to send a request to {_shown(url)}: {refused.reason}",
        details={"url": _shown(url), "reason": refused.reason},
    )


async def _send(
    client: httpx.AsyncClient,
    spec: RequestSpec,
    method: str,
    url: str,
    headers: dict[str, str],
    params: dict[str, Any] | None,
    content: bytes | None,
) -> tuple[httpx.Response, bytes]:
    import httpx

    try:
        target = httpx.URL(url)
        if params:  # merged: ``params=`` would drop the query the URL already has
            target = target.copy_merge_params(params)
        request = client.build_request(
            method, target, headers=headers, content=content, timeout=spec.timeout
        )
        response = await client.send(request, stream=True)
        try:
            return response, await _read_limited(response, spec, method)
        finally:
            await response.aclose()
    except OutboundRefused as refused:
        raise _refused(url, refused) from None
    except httpx.TimeoutException:
        raise NodeTimeoutError(
            f"{method} {_shown(url)} timed out after {spec.timeout * 1000:g} ms",
            details={"timeout": spec.timeout * 1000, "url": _shown(url)},
        ) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as error:
        raise HttpError(
            f"invalid URL {_shown(url)}: {error}", details={"url": _shown(url)}
        ) from None
    except httpx.HTTPError as error:
        cause = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        raise HttpError(
            f"{method} {_shown(url)} failed: {cause}", details={"url": _shown(url), "cause": cause}
        ) from None


async def _read_limited(response: httpx.Response, spec: RequestSpec, method: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > spec.max_bytes:
        raise _too_large(spec, method, response)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():  # decoded bytes: a gzip bomb counts in full
        size += len(chunk)
        if size > spec.max_bytes:
            raise _too_large(spec, method, response)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(spec: RequestSpec, method: str, response: httpx.Response) -> HttpError:
    return HttpError(
        f"{method} {_shown(str(response.url))}: the response is larger than"
        f" maxResponseBytes ({spec.max_bytes} bytes)",
        details={"statusCode": None, "url": _shown(str(response.url)), "limit": spec.max_bytes},
    )


def _outcome(spec: RequestSpec, method: str, response: httpx.Response, content: bytes) -> Any:
    status = response.status_code
    body = _decode(response, content, spec.response_format)
    if status < 400:
        return {"statusCode": status, "headers": dict(response.headers.items()), "body": body}
    message = f"{method} {_shown(str(response.url))} answered {status} {response.reason_phrase}"
    details = {"statusCode": status, "response": _truncated(body)}
    if status == 429:
        retry_after = _retry_after(response)
        details["retryAfter"] = retry_after
        raise RateLimitedError(message, details=details, retry_after=retry_after)
    raise HttpError(message, details=details)


def _decode(response: httpx.Response, content: bytes, response_format: str) -> Any:
    text = content.decode(response.encoding or "utf-8", errors="replace")
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    wants_json = response_format == "json" or (
        response_format == "auto" and (media == "application/json" or media.endswith("+json"))
    )
    if not wants_json or not text.strip():
        return text if text or not wants_json else None
    try:
        return json.loads(text)
    except ValueError:
        if response_format == "json":
            raise HttpError(
                f"the response of {_shown(str(response.url))} is not valid JSON",
                details={
                    "statusCode": response.status_code,
                    "response": _truncated(text),
                },
            ) from None
        return text


def _truncated(body: Any) -> Any:
    text = body if isinstance(body, str) else json.dumps(body)
    if len(text) <= ERROR_RESPONSE_CHARS:
        return body
    return text[:ERROR_RESPONSE_CHARS] + "…"


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        # Measured against the server's own Date when it sent one: immune to clock skew.
        sent = response.headers.get("date")
        now = parsedate_to_datetime(sent) if sent else datetime.now(UTC)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def _encode_body(body: Any, body_type: Any) -> tuple[bytes | None, str | None]:
    if body is None:
        return None, None
    kind = body_type or ("text" if isinstance(body, str) else "json")
    if kind == "json":
        return json.dumps(body, separators=(",", ":")).encode(), "application/json"
    if kind == "form":
        if not isinstance(body, Mapping):
            raise _invalid("config.body must be an object when bodyType is 'form'")
        return urlencode({k: str(v) for k, v in body.items()}).encode(), (
            "application/x-www-form-urlencoded"
        )
    if kind in ("text", "raw"):
        return str(body).encode(), "text/plain; charset=utf-8"
    raise _invalid(f"config.bodyType must be 'json', 'form' or 'text', not {body_type!r}")


def _positive(value: Any, name: str, *, zero: bool = False) -> float:
    valid = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not valid or value < 0 or (value == 0 and not zero):
        raise _invalid(f"config.{name} must be a number > {'=' if zero else ''}0, got {value!r}")
    return float(value)


def _invalid(message: str) -> NodeError:
    # A config another attempt cannot fix: VALIDATION_ERROR is never retried.
    return NodeError(message, code="VALIDATION_ERROR")


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _shown(url: str) -> str:
    """The URL without its query, which may carry a key, for messages."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()


_STRING_MAP = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}

NODE_TYPES = [
    NodeType(
        type="http_request",
        handler=http_request,
        category="http",
        description="Sends an HTTP request and outputs {statusCode, headers, body}.",
        config_schema={
            "type": "object",
            "properties": {
                "url": {"type": "string", "minLength": 1},
                "method": {"enum": [*METHODS, *(m.lower() for m in METHODS)]},
                "headers": _STRING_MAP,
                "query": {"type": "object"},
                "body": {},
                "bodyType": {"enum": ["json", "form", "text", "raw"]},
                "timeout": {"type": "number", "exclusiveMinimum": 0},
                "retry": {
                    "type": "object",
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "maxRetries": {"type": "integer", "minimum": 0},
                        "retryOn": {"type": "array", "items": {"type": "integer"}},
                        "retryDelay": {"type": "number", "minimum": 0},
                    },
                },
                "followRedirects": {"type": "boolean"},
                "maxRedirects": {"type": "integer", "minimum": 0, "maximum": 20},
                "maxResponseBytes": {"type": "integer", "minimum": 1},
                "responseFormat": {"enum": ["auto", "json", "text"]},
                "credential": {"type": "string", "minLength": 1},
            },
            "required": ["url"],
        },
    ),
]
