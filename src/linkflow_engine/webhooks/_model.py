"""The webhook model: what a record holds, how a request body or a node config becomes one
(every problem reported at once), and its JSON form with the secrets masked.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import attrs

from .._exceptions import WorkflowValidationError

__all__ = [
    "AUTH_TYPES",
    "MASK",
    "METHODS",
    "OPTIONS",
    "RESERVED_HEADERS",
    "RESPONSE_MODES",
    "SETTINGS",
    "Webhook",
    "WebhookLogEntry",
    "new_path",
    "now_text",
    "parse_settings",
]

MASK = "***"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
RESPONSE_MODES = ("immediate", "lastNode", "custom")
# type: (required fields, the secret among them)
AUTH_TYPES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "none": ((), None),
    "header": (("headerName", "secret"), "secret"),
    "hmac": (("headerName", "secret"), "secret"),
    "basic": (("username", "password"), "password"),
    "jwt": (("headerName", "secret"), "secret"),
}
OPTIONS = ("rawBody", "timeout", "allowedMethods", "ipWhitelist", "rateLimitPerMinute")
_PATH = re.compile(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*")
_MAX_TIMEOUT_MS = 3_600_000


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_path() -> str:
    """A fresh random path: 128 bits, so nobody finds a webhook by guessing its path."""
    return uuid.uuid4().hex


@attrs.frozen(kw_only=True)
class Webhook:
    """A webhook record. ``source`` is ``api`` (made through the Webhooks API) or ``node``
    (declared by a ``webhook_trigger`` node's ``config.path`` in an active workflow)."""

    id: str = attrs.field(factory=lambda: f"wh-{secrets.token_hex(8)}")
    workflow_id: str
    node_id: str | None = None
    source: str = "api"
    name: str
    path: str
    method: str = "POST"
    is_active: bool = True
    authentication: Mapping[str, Any] = attrs.field(factory=lambda: {"type": "none"}, repr=False)
    response_mode: str = "lastNode"
    response_code: int | None = None
    response_body: Any = None
    response_headers: Mapping[str, str] = attrs.Factory(dict)
    options: Mapping[str, Any] = attrs.Factory(dict)
    last_triggered: str | None = None
    trigger_count: int = 0
    created_at: str = attrs.field(factory=now_text)
    updated_at: str = attrs.field(factory=now_text)

    @property
    def allowed_methods(self) -> list[str]:
        return list(self.options.get("allowedMethods") or [self.method])

    def settings(self) -> dict[str, Any]:
        """What the SQL stores keep as one JSON column (no secrets: those are encrypted)."""
        return {
            "responseBody": self.response_body,
            "responseHeaders": dict(self.response_headers),
            "options": dict(self.options),
        }

    def to_json(self, base_url: str = "") -> dict[str, Any]:
        """The API's form, secrets masked; ``url`` is ``base_url`` + ``/webhook/`` + path."""
        return {
            "id": self.id,
            "workflowId": self.workflow_id,
            "nodeId": self.node_id,
            "source": self.source,
            "name": self.name,
            "path": self.path,
            "url": f"{base_url.rstrip('/')}/webhook/{self.path}",
            "method": self.method,
            "isActive": self.is_active,
            "authentication": masked(self.authentication),
            "responseMode": self.response_mode,
            "responseCode": self.response_code,
            "responseBody": self.response_body,
            "responseHeaders": dict(self.response_headers),
            "options": dict(self.options),
            "lastTriggered": self.last_triggered,
            "triggerCount": self.trigger_count,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


@attrs.frozen(kw_only=True)
class WebhookLogEntry:
    """One request a webhook answered: when, how, what status, which execution, which error."""

    timestamp: str
    method: str
    status: int
    execution_id: str | None = None
    error: str | None = None
    ip: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "timestamp": self.timestamp,
            "method": self.method,
            "status": self.status,
            "executionId": self.execution_id,
            "error": self.error,
            "ip": self.ip,
        }


def masked(authentication: Mapping[str, Any]) -> dict[str, Any]:
    secret = AUTH_TYPES.get(str(authentication.get("type")), ((), None))[1]
    return {k: MASK if k == secret else v for k, v in authentication.items()}


class _Problems:
    """Collects every problem of a body, each under its field path."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.found: list[dict[str, str]] = []

    def add(self, field: str, message: str) -> None:
        self.found.append({"field": self.prefix + field, "message": message})

    def raise_any(self) -> None:
        if self.found:
            shown = "; ".join(f"{p['field']}: {p['message']}" for p in self.found[:5])
            raise WorkflowValidationError(self.found, message=f"invalid webhook: {shown}")


def parse_settings(
    body: Mapping[str, Any], *, current: Webhook | None = None, prefix: str = ""
) -> dict[str, Any]:
    """The webhook fields ``body`` sets (JSON names in, attribute names out), validated.

    Absent fields are left out (``current`` keeps its values on an update). An authentication
    whose secret is the mask keeps ``current``'s secret, so a read-modify-write round trip
    through the API never wipes it. Raises WorkflowValidationError listing every problem.
    """
    problems = _Problems(prefix)
    fields: dict[str, Any] = {}
    for name, attribute, check in _CHECKS:
        if name in body:
            value = check(body[name], problems, name)
            if value is not _BAD:
                fields[attribute] = value
    if "authentication" in fields:
        fields["authentication"] = _keep_masked(fields["authentication"], current)
    problems.raise_any()
    return fields


_BAD = object()


def _name(value: Any, problems: _Problems, field: str) -> Any:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        problems.add(field, "must be a non-empty string of at most 200 characters")
        return _BAD
    return value


def _path(value: Any, problems: _Problems, field: str) -> Any:
    if not isinstance(value, str) or len(value) > 200 or not _PATH.fullmatch(value):
        problems.add(field, "must be 1-200 characters of A-Z a-z 0-9 . _ ~ - and inner slashes")
        return _BAD
    return value


def _method(value: Any, problems: _Problems, field: str) -> Any:
    if not isinstance(value, str) or value.upper() not in METHODS:
        problems.add(field, f"must be one of {', '.join(METHODS)}")
        return _BAD
    return value.upper()


def _bool(value: Any, problems: _Problems, field: str) -> Any:
    if not isinstance(value, bool):
        problems.add(field, "must be a boolean")
        return _BAD
    return value


def _mode(value: Any, problems: _Problems, field: str) -> Any:
    if value not in RESPONSE_MODES:
        problems.add(field, f"must be one of {', '.join(RESPONSE_MODES)}")
        return _BAD
    return value


def _code(value: Any, problems: _Problems, field: str) -> Any:
    # A body is always sent: 1xx, 204 and 304 cannot carry one.
    if value is not None and (not _is_int(value) or not 200 <= value <= 599 or value in (204, 304)):
        problems.add(field, "must be an HTTP status code (200-599, not 204 or 304) or null")
        return _BAD
    return value


def _any(value: Any, problems: _Problems, field: str) -> Any:
    return value


def _headers(value: Any, problems: _Problems, field: str) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str)
        and _HEADER_NAME.fullmatch(k)
        and isinstance(v, str)
        and _is_header_value(v)
        for k, v in value.items()
    ):
        problems.add(
            field,
            "must be an object of header names (letters, digits, !#$%&'*+-.^_`|~) to values of "
            "Latin-1 text without line breaks",
        )
        return _BAD
    reserved = [name for name in value if name.lower() in RESERVED_HEADERS]
    if reserved:
        problems.add(field, f"{', '.join(reserved)}: set by the server, not configurable")
        return _BAD
    return dict(value)


RESERVED_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "x-linkflow-execution-id"}
)
"""Answer headers the server sets (in lower case): the framing of the answer, which a configured
value would break, and the id of the execution the request started."""

_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _is_header_value(value: str) -> bool:
    return all((" " <= c <= "\xff" and c != "\x7f") or c == "\t" for c in value)


def _authentication(value: Any, problems: _Problems, field: str) -> Any:
    if value is None or value == "none":
        return {"type": "none"}
    if not isinstance(value, dict):
        problems.add(field, "must be an object with a type, or 'none'")
        return _BAD
    kind = value.get("type")
    if not isinstance(kind, str) or kind not in AUTH_TYPES:
        problems.add(field + ".type", f"must be one of {', '.join(AUTH_TYPES)}")
        return _BAD
    before = len(problems.found)
    for required in AUTH_TYPES[kind][0]:
        if not isinstance(value.get(required), str) or not value[required]:
            problems.add(f"{field}.{required}", f"a {kind} authentication needs this string")
    secret = value.get("secret")
    if kind == "jwt" and isinstance(secret, str) and len(secret.encode()) < 32:
        # RFC 7518 3.2: an HS256 key has at least 256 bits (PyJWT warns on every shorter one).
        problems.add(field + ".secret", "a jwt secret needs at least 32 bytes")
    if kind == "hmac" and value.get("algorithm", "sha256") != "sha256":
        problems.add(field + ".algorithm", "must be 'sha256'")
    if len(problems.found) > before:
        return _BAD
    shown = {"type": kind, **{k: value[k] for k in AUTH_TYPES[kind][0]}}
    return {**shown, "algorithm": "sha256"} if kind == "hmac" else shown


def _keep_masked(auth: dict[str, Any], current: Webhook | None) -> dict[str, Any]:
    secret = AUTH_TYPES[auth["type"]][1]
    if secret is None or auth.get(secret) != MASK or current is None:
        return auth
    if current.authentication.get("type") == auth["type"]:
        return {**auth, secret: current.authentication[secret]}
    return auth


def _options(value: Any, problems: _Problems, field: str) -> Any:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(field, "must be an object")
        return _BAD
    before = len(problems.found)
    for key in value.keys() - set(OPTIONS):
        problems.add(f"{field}.{key}", f"unknown option; known: {', '.join(OPTIONS)}")
    checked = {key: _option(key, value[key], problems, f"{field}.{key}") for key in value}
    return _BAD if len(problems.found) > before else checked


def _option(key: str, value: Any, problems: _Problems, field: str) -> Any:
    if key == "rawBody" and not isinstance(value, bool):
        problems.add(field, "must be a boolean")
    elif key == "timeout" and (not _is_int(value) or not 1 <= value <= _MAX_TIMEOUT_MS):
        problems.add(field, f"must be milliseconds between 1 and {_MAX_TIMEOUT_MS}")
    elif key == "rateLimitPerMinute" and (not _is_int(value) or value < 1):
        problems.add(field, "must be a positive integer")
    elif key == "allowedMethods" and (
        not isinstance(value, list) or not value or not all(m in METHODS for m in value)
    ):
        problems.add(field, f"must be a non-empty list of {', '.join(METHODS)}")
    elif key == "ipWhitelist" and (
        not isinstance(value, list) or not all(_is_network(item) for item in value)
    ):
        problems.add(field, "must be a list of IP addresses or CIDR ranges")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_network(value: Any) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except (TypeError, ValueError):
        return False
    return True


_CHECKS = (
    ("name", "name", _name),
    ("path", "path", _path),
    ("method", "method", _method),
    ("isActive", "is_active", _bool),
    ("authentication", "authentication", _authentication),
    ("responseMode", "response_mode", _mode),
    ("responseCode", "response_code", _code),
    ("responseBody", "response_body", _any),
    ("responseHeaders", "response_headers", _headers),
    ("options", "options", _options),
)

SETTINGS = frozenset(name for name, _, _ in _CHECKS)
"""The JSON names of the settings :func:`parse_settings` reads."""
