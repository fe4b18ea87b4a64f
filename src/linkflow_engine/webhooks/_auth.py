"""Checking a request against a webhook's authentication: none, header, hmac, basic, jwt.

Secrets are compared with :func:`hmac.compare_digest` on bytes, so the time taken says nothing
about how much of a guess was right. The HMAC is computed over the raw body bytes as received:
parsing and re-serialising JSON would change them and break every honest signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["WebhookAuthError", "hmac_signature", "verify_request"]

Headers = Mapping[str, str]  # names in lower case


class WebhookAuthError(Exception):
    """The request does not authenticate; ``challenge`` is a WWW-Authenticate value, if any.
    The reason is for the webhook's log; the client gets a generic 401."""

    def __init__(self, reason: str, *, challenge: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.challenge = challenge


def hmac_signature(secret: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``body`` a sender puts in the header (``sha256=`` optional)."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_request(auth: Mapping[str, Any], headers: Headers, body: bytes) -> None:
    """Return if the request passes ``auth``; raise WebhookAuthError otherwise."""
    _VERIFIERS[str(auth.get("type", "none"))](auth, headers, body)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _header(headers: Headers, name: str) -> str:
    value = headers.get(name.lower())
    if not value:
        raise WebhookAuthError(f"missing header {name}")
    return value


def _none(auth: Mapping[str, Any], headers: Headers, body: bytes) -> None:
    return None


def _by_header(auth: Mapping[str, Any], headers: Headers, body: bytes) -> None:
    if not _same(_header(headers, auth["headerName"]), auth["secret"]):
        raise WebhookAuthError(f"wrong value in header {auth['headerName']}")


def _by_hmac(auth: Mapping[str, Any], headers: Headers, body: bytes) -> None:
    given = _header(headers, auth["headerName"]).strip()
    # GitHub and others prefix the digest with the algorithm; both forms are accepted.
    given = given.removeprefix("sha256=").lower()
    if not _same(given, hmac_signature(auth["secret"], body)):
        raise WebhookAuthError(f"the signature in {auth['headerName']} does not match the body")


def _by_basic(auth: Mapping[str, Any], headers: Headers, body: bytes) -> None:
    challenge = 'Basic realm="webhook", charset="UTF-8"'
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise WebhookAuthError("missing basic credentials", challenge=challenge)
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise WebhookAuthError("malformed basic credentials", challenge=challenge) from None
    user, _, password = decoded.partition(":")
    # Both compared, always: stopping at a wrong user would tell users from non-users.
    user_ok = _same(user, auth["username"])
    password_ok = _same(password, auth["password"])
    if not (user_ok and password_ok):
        raise WebhookAuthError("wrong username or password", challenge=challenge)


def _by_jwt(auth: Mapping[str, Any], headers: Headers, body: bytes) -> None:
    import jwt  # the http extra's PyJWT: loaded only by webhooks that use it

    token = _header(headers, auth["headerName"]).strip()
    scheme, _, rest = token.partition(" ")
    if scheme.lower() == "bearer" and rest:
        token = rest.strip()
    try:
        # Only HS256: accepting the token's own "alg" would let "none" or a public key in.
        jwt.decode(token, auth["secret"], algorithms=["HS256"], options={"verify_aud": False})
    except jwt.PyJWTError as error:
        raise WebhookAuthError(f"invalid token: {error}") from None


_VERIFIERS: dict[str, Callable[[Mapping[str, Any], Headers, bytes], None]] = {
    "none": _none,
    "header": _by_header,
    "hmac": _by_hmac,
    "basic": _by_basic,
    "jwt": _by_jwt,
}
