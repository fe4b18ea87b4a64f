"""How a request carries a credential: the headers and query parameters of each type."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from .base import Credential

__all__ = ["RequestAuth", "request_auth"]

DEFAULT_API_KEY_HEADER = "X-API-Key"


@attrs.frozen
class RequestAuth:
    """What to add to a request; ``derived`` are secrets made from the data (to redact)."""

    headers: dict[str, str] = attrs.Factory(dict)
    params: dict[str, str] = attrs.Factory(dict)
    derived: tuple[str, ...] = ()
    oauth2: bool = False
    """The bearer is an OAuth2 access token: a new one can be fetched when it is rejected."""


def request_auth(credential: Credential) -> RequestAuth:
    """The auth of an ``api_key``, ``bearer_token``, ``basic_auth`` or ``oauth2`` credential
    (``oauth2`` data carries the ``accessToken`` the runtime fetched); nothing for ``custom``,
    whose values a workflow uses through ``{{ $credentials.x }}``."""
    data = credential.data or {}
    if credential.type == "api_key":
        key = str(data["apiKey"])
        if data.get("queryParam"):
            return RequestAuth(params={str(data["queryParam"]): key})
        return RequestAuth(headers={str(data.get("headerName") or DEFAULT_API_KEY_HEADER): key})
    if credential.type == "bearer_token":
        return RequestAuth(headers={"Authorization": f"Bearer {data['token']}"})
    if credential.type == "basic_auth":
        pair = f"{data['username']}:{data['password']}".encode()
        encoded = base64.b64encode(pair).decode("ascii")
        return RequestAuth(headers={"Authorization": f"Basic {encoded}"}, derived=(encoded,))
    if credential.type == "oauth2":
        headers = {"Authorization": f"Bearer {data['accessToken']}"}
        return RequestAuth(headers=headers, oauth2=True)
    return RequestAuth()
