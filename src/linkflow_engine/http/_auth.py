"""Bearer API keys: each key maps to a user id, which becomes an execution's ``triggeredBy``.

Only SHA-256 digests of the keys are kept, so ``linkflow serve`` can load keys it stored as
hashes, and every comparison is between two 32-byte digests with :func:`hmac.compare_digest`
against every configured key (no early exit): the time taken says nothing about which key, or
how much of one, matched. Keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from ._envelope import failure

__all__ = ["PUBLIC_PATHS", "ApiKeys", "AuthMiddleware", "hash_key"]

# What a client may read before it has a key: liveness and the API's own description.
PUBLIC_PATHS = frozenset({"/health", "/api/v1/health", "/api/v1/openapi.json"})


def hash_key(key: str) -> str:
    """The hex SHA-256 digest stored in place of a key."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeys:
    """The accepted keys (given in clear or as :func:`hash_key` digests) and their users."""

    def __init__(
        self,
        keys: Mapping[str, str] | None = None,
        *,
        hashes: Mapping[str, str] | None = None,
    ) -> None:
        users = {bytes.fromhex(hash_key(key)): user for key, user in (keys or {}).items()}
        users.update({bytes.fromhex(digest): user for digest, user in (hashes or {}).items()})
        self._users = list(users.items())

    def __repr__(self) -> str:
        return f"ApiKeys(<{len(self._users)} keys>)"  # never the keys themselves

    @property
    def enabled(self) -> bool:
        return bool(self._users)

    def authenticate(self, token: str) -> str | None:
        """The user id of ``token``, or ``None`` when it is no configured key."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = None
        for candidate, user in self._users:
            if hmac.compare_digest(candidate, digest):
                found = user
        return found


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


class AuthMiddleware:
    """Answers 401 to HTTP requests under ``/api/`` without a valid key; puts the user id of a
    valid one in ``scope["linkflow.user"]``. WebSocket connections authenticate themselves."""

    def __init__(self, app: ASGIApp, *, keys: ApiKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self._guarded(scope["path"]):
            token = bearer_token(scope)
            user = self.keys.authenticate(token) if token is not None else None
            if user is None:
                await _unauthorized(token is None)(scope, receive, send)
                return
            scope["linkflow.user"] = user
        await self.app(scope, receive, send)

    def _guarded(self, path: str) -> bool:
        return self.keys.enabled and path.startswith("/api/") and path not in PUBLIC_PATHS


def _unauthorized(missing: bool) -> ASGIApp:
    message = (
        "an API key is required: send 'Authorization: Bearer <key>'"
        if missing
        else "the API key is not valid"
    )
    return failure("UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})
