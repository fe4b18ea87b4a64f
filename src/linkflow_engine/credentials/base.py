"""The credential model and the :class:`CredentialStore` protocol (the whole contract).

A credential is ``{id, name, type, data}``. ``type`` says what ``data`` holds and how a node
authenticates with it; ``data`` is the secret part, encrypted at rest by the SQL stores and never
shown on reads meant for people (:meth:`Credential.masked`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import attrs

from .._exceptions import WorkflowValidationError

__all__ = [
    "CREDENTIAL_TYPES",
    "MASK",
    "Credential",
    "CredentialStore",
    "new_credential",
    "secret_values",
    "updated_credential",
    "validate_credential",
]

MASK = "***"

CREDENTIAL_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (required fields of data, fields whose values are secret)
    "api_key": (("apiKey",), ("apiKey",)),
    "bearer_token": (("token",), ("token",)),
    "basic_auth": (("username", "password"), ("password",)),
    "oauth2": (("tokenUrl", "clientId", "clientSecret"), ("clientSecret", "accessToken")),
    "custom": ((), ()),  # every string value of a custom credential counts as secret
}


@attrs.frozen(kw_only=True)
class Credential:
    """A stored credential. ``data`` is None when it was not decrypted (listings)."""

    id: str
    name: str
    type: str
    data: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    created_at: str | None = None
    updated_at: str | None = None

    def masked(self) -> dict[str, Any]:
        """The JSON form for people and APIs: every value of ``data`` replaced by ``***``."""
        shown: dict[str, Any] = {"id": self.id, "name": self.name, "type": self.type}
        if self.data is not None:
            shown["data"] = dict.fromkeys(self.data, MASK)
        shown["createdAt"] = self.created_at
        shown["updatedAt"] = self.updated_at
        return shown


class CredentialStore(Protocol):
    """Where credentials live. Every implementation passes ``tests/credentials``.

    Stores connect lazily: the first call opens what is needed, :meth:`open` does it eagerly
    (to report a bad database early) and :meth:`aclose` releases it; an engine closes its store
    when it closes. Reads that return ``data`` decrypt it and raise
    :class:`~linkflow_engine.CredentialError` (``CREDENTIAL_ERROR``) when it cannot be decrypted
    with the configured key, never returning garbage.
    """

    async def open(self) -> None:
        """Connect now (and create the tables when missing)."""

    async def aclose(self) -> None:
        """Release connections; the store can be used again later (it reconnects)."""

    async def create(
        self, *, name: str, type: str, data: Mapping[str, Any], id: str | None = None
    ) -> Credential:
        """Store a new credential and return it (with ``data``). The id is ``cred-<hex>``
        unless given. Raises WorkflowValidationError (``VALIDATION_ERROR``) for an unknown
        type, data lacking the fields its type requires, or an id already in use."""
        ...

    async def get(self, credential_id: str) -> Credential:
        """The credential with its decrypted ``data``. Raises ExecutionNotFoundError
        (``NOT_FOUND``, kind ``credential``) or CredentialError (cannot decrypt)."""
        ...

    async def list(self) -> list[Credential]:
        """Every credential without its data (``data`` is None), ordered by name then id.
        Needs no key: a listing works even when the key is wrong."""
        ...

    async def update(
        self,
        credential_id: str,
        *,
        name: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Credential:
        """Replace the name and/or the data (validated against the type as in :meth:`create`)
        and return the result. Raises ExecutionNotFoundError when there is no such id."""
        ...

    async def delete(self, credential_id: str) -> None:
        """Remove the credential. Raises ExecutionNotFoundError when there is no such id."""
        ...


def validate_credential(
    name: Any, type: Any, data: Any, id: Any = None, *, field: str = "data"
) -> None:
    """Raise WorkflowValidationError listing every problem of a credential to be stored."""
    problems = []
    if not isinstance(name, str) or not name.strip():
        problems.append({"field": "name", "message": "must be a non-empty string"})
    if id is not None and (not isinstance(id, str) or not id.strip() or set(id) & {"/", "\x00"}):
        # An id is a path segment of the API (/credentials/{id}): one with "/" or NUL could be
        # stored but never read, changed or deleted there.
        problems.append({"field": "id", "message": "must be a non-empty string without '/' or NUL"})
    known_type = isinstance(type, str) and type in CREDENTIAL_TYPES
    if not known_type:
        known = ", ".join(CREDENTIAL_TYPES)
        problems.append({"field": "type", "message": f"must be one of {known}, not {type!r}"})
    if not isinstance(data, Mapping):
        problems.append({"field": field, "message": "must be a JSON object"})
    elif known_type:
        for required in CREDENTIAL_TYPES[type][0]:
            value = data.get(required)
            if not isinstance(value, str) or not value:
                message = f"a {type} credential needs a non-empty string {required!r}"
                problems.append({"field": f"{field}.{required}", "message": message})
    if problems:
        raise WorkflowValidationError(problems, message=_summary(problems))


def _summary(problems: list[dict[str, str]]) -> str:
    shown = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
    return f"invalid credential: {shown}"


def new_credential(
    *, name: str, type: str, data: Mapping[str, Any], id: str | None = None
) -> Credential:
    """A validated credential about to be stored, with its id and timestamps filled in."""
    validate_credential(name, type, data, id)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Credential(
        id=id or f"cred-{uuid.uuid4().hex[:16]}",
        name=name,
        type=type,
        data=dict(data),
        created_at=now,
        updated_at=now,
    )


def updated_credential(
    old: Credential, *, name: str | None, data: Mapping[str, Any] | None
) -> Credential:
    """``old`` with a new name and/or data, validated, with a new ``updated_at``."""
    new_name = old.name if name is None else name
    new_data = old.data if data is None else dict(data)
    validate_credential(new_name, old.type, new_data)
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return attrs.evolve(old, name=new_name, data=new_data, updated_at=now)


def secret_values(credential: Credential) -> list[str]:
    """The strings of ``data`` that must never be recorded (all of them for ``custom``)."""
    data = credential.data or {}
    if credential.type == "custom" or credential.type not in CREDENTIAL_TYPES:
        return list(_strings(data))
    return [v for k in CREDENTIAL_TYPES[credential.type][1] if isinstance(v := data.get(k), str)]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []
