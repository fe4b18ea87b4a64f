"""OAuth2 client credentials: access tokens fetched from ``tokenUrl``, cached until they expire.

One :class:`OAuth2Tokens` per engine: every node run that uses the same credential shares the
cached token; a token is fetched again shortly before it expires (or when a server rejected it).
The token endpoint is an outgoing request like any other: the outbound policy checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from .._exceptions import CredentialError, HttpError

if TYPE_CHECKING:
    import httpx

    from ..outbound import OutboundPolicy
    from .base import Credential

__all__ = ["OAuth2Tokens"]

EXPIRY_MARGIN = 30.0  # seconds: a token this close to its expiry is not handed out
DEFAULT_LIFETIME = 3600.0  # seconds, when the server does not say (expires_in missing)


@attrs.define
class _Cached:
    token: str
    expires_at: float
    fingerprint: tuple[Any, ...]


class OAuth2Tokens:
    """The engine's cache of OAuth2 access tokens, by credential id."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._locks: dict[str, anyio.Lock] = {}

    def invalidate(self, credential_id: str) -> None:
        """Forget the cached token (the API answered 401 with it)."""
        self._cache.pop(credential_id, None)

    async def token(
        self, credential: Credential, client: httpx.AsyncClient, policy: OutboundPolicy
    ) -> str:
        """A valid access token for ``credential``, fetched only when none is cached."""
        data = credential.data or {}
        fingerprint = tuple(sorted((k, str(v)) for k, v in data.items()))
        lock = self._locks.setdefault(credential.id, anyio.Lock())
        async with lock:  # concurrent nodes wait for one fetch instead of each fetching
            cached = self._cache.get(credential.id)
            now = self._clock()
            if cached and cached.fingerprint == fingerprint and cached.expires_at > now:
                return cached.token
            token, lifetime = await _fetch(credential.id, data, client, policy)
            expires_at = now + max(0.0, lifetime - EXPIRY_MARGIN)
            self._cache[credential.id] = _Cached(token, expires_at, fingerprint)
            return token


async def _fetch(
    credential_id: str, data: Mapping[str, Any], client: httpx.AsyncClient, policy: OutboundPolicy
) -> tuple[str, float]:
    from ..outbound import OutboundRefused

    url = str(data["tokenUrl"])
    try:
        await policy.check(url)
    except OutboundRefused as refused:
        raise HttpError(refused.message, details={"url": url, "reason": refused.reason}) from None
    form = {"grant_type": "client_credentials"}
    for field, name in (("scope", "scope"), ("audience", "audience")):
        if data.get(field):
            form[name] = str(data[field])
    auth = None
    if data.get("clientAuthentication") == "basic":
        auth = (str(data["clientId"]), str(data["clientSecret"]))
    else:
        form.update(client_id=str(data["clientId"]), client_secret=str(data["clientSecret"]))
    response = await _post(client, url, form, auth)
    return _parse(credential_id, url, response)


async def _post(
    client: httpx.AsyncClient, url: str, form: dict[str, str], auth: tuple[str, str] | None
) -> httpx.Response:
    import httpx

    from ..outbound import OutboundRefused

    try:
        return await client.post(url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
    except OutboundRefused as refused:  # the client checks again when connecting
        raise HttpError(refused.message, details={"url": url, "reason": refused.reason}) from None
    except httpx.HTTPError as error:
        cause = f"{type(error).__name__}: {error}"
        raise HttpError(
            f"cannot reach the OAuth2 token endpoint {url}: {cause}",
            details={"url": url, "cause": cause},
        ) from None


def _parse(credential_id: str, url: str, response: httpx.Response) -> tuple[str, float]:
    if response.status_code >= 500:
        raise HttpError(
            f"the OAuth2 token endpoint {url} answered {response.status_code}",
            details={"url": url, "statusCode": response.status_code},
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    token = body.get("access_token") if isinstance(body, dict) else None
    if response.status_code >= 400 or not isinstance(token, str) or not token:
        # A rejected client id or secret: another attempt cannot fix it.
        reason = body.get("error") if isinstance(body, dict) else None
        raise CredentialError(
            f"credential {credential_id!r}: the OAuth2 token endpoint refused the client"
            f" (status {response.status_code}, error {reason!r})",
            details={"credentialId": credential_id, "statusCode": response.status_code},
        )
    lifetime = body.get("expires_in")
    valid = isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool)
    return token, float(lifetime) if valid else DEFAULT_LIFETIME
