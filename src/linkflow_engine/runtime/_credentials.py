"""How a node run gets its credential: own credential only, decrypted once per run, its secrets
handed to the run's redactor before the node can see them, OAuth2 tokens fetched on the way."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._exceptions import CredentialError, ExecutionNotFoundError, WorkflowValidationError
from ..credentials._auth import request_auth
from ..credentials.base import secret_values, validate_credential

if TYPE_CHECKING:
    from ..credentials import Credential
    from ..graph import Node
    from ._node_steps import NodeSteps

__all__ = ["load_credential"]


async def load_credential(
    steps: NodeSteps, node: Node, credential_id: str | None, *, refresh: bool = False
) -> Credential:
    """The credential of ``node`` (``config.credential``), ready to use; CredentialError when it
    is another node's, missing, undecryptable or its data does not fit its type."""
    own = _own_credential_id(node)
    if credential_id is not None and credential_id != own:
        raise CredentialError(
            f"node {node.name!r} may use only its own credential (config.credential {own!r}),"
            f" not {credential_id!r}",
            details={"credentialId": credential_id},
        )
    cache = steps.__dict__.setdefault("_credential_cache", {})
    credential: Credential | None = cache.get(own)
    if credential is None:
        credential = cache[own] = await _fetch(steps, node, own)
    if credential.type == "oauth2":
        if refresh:
            steps.services.oauth2.invalidate(credential.id)
        credential = await _with_access_token(steps, credential)
    return credential


def _own_credential_id(node: Node) -> str:
    own = node.config.get("credential")
    if not isinstance(own, str) or not own or "{{" in own:
        raise CredentialError(
            f"node {node.name!r}: config.credential must be the id of a stored credential"
            " (a plain string, not an expression)",
            details={"credential": own if isinstance(own, str) else None},
        )
    return own


async def _fetch(steps: NodeSteps, node: Node, credential_id: str) -> Credential:
    store = steps.services.credentials
    if store is None:
        raise CredentialError(
            f"credential {credential_id!r} is not available: the engine has no credential store",
            details={"credentialId": credential_id},
        )
    try:
        credential = await store.get(credential_id)
    except ExecutionNotFoundError:
        raise CredentialError(
            f"node {node.name!r}: credential {credential_id!r} does not exist",
            details={"credentialId": credential_id},
        ) from None
    # Secrets first: from here on, whatever the node does with them is redacted.
    steps.recorder.add_secrets(secret_values(credential))
    try:
        validate_credential(credential.name, credential.type, credential.data)
    except WorkflowValidationError as error:
        raise CredentialError(
            f"credential {credential_id!r} does not fit its type {credential.type!r}:"
            f" {error.message}",
            details={"credentialId": credential_id, "type": credential.type},
        ) from None
    steps.recorder.add_secrets(list(request_auth_secrets(credential)))
    return credential


def request_auth_secrets(credential: Credential) -> tuple[str, ...]:
    """Secrets derived from the data (a Basic header's base64), known before any request."""
    if credential.type == "oauth2":
        return ()
    return request_auth(credential).derived


async def _with_access_token(steps: NodeSteps, credential: Credential) -> Credential:
    services = steps.services
    if services.http_client is None:
        raise CredentialError("an oauth2 credential needs the engine's HTTP client")
    token = await services.oauth2.token(credential, services.http_client(), services.outbound)
    steps.recorder.add_secrets([token])
    return attrs.evolve(credential, data={**(credential.data or {}), "accessToken": token})
