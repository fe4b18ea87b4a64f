"""Credentials in memory: for tests and embedders that load credentials at start-up.

Nothing is at rest here, so nothing is encrypted; the data is copied in and out so a caller
cannot change a stored credential by mutating what it passed or got.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import attrs

from .._exceptions import ExecutionNotFoundError, WorkflowValidationError
from .base import Credential, new_credential, updated_credential

__all__ = ["MemoryCredentialStore"]


class MemoryCredentialStore:
    """A :class:`~linkflow_engine.credentials.CredentialStore` in a dict."""

    def __init__(self) -> None:
        self._credentials: dict[str, Credential] = {}

    def __repr__(self) -> str:
        return f"MemoryCredentialStore({len(self._credentials)} credentials)"

    async def open(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def create(
        self, *, name: str, type: str, data: Mapping[str, Any], id: str | None = None
    ) -> Credential:
        credential = new_credential(name=name, type=type, data=copy.deepcopy(data), id=id)
        if credential.id in self._credentials:
            raise _id_in_use(credential.id)
        self._credentials[credential.id] = credential
        return _copy(credential)

    async def get(self, credential_id: str) -> Credential:
        return _copy(self._find(credential_id))

    async def list(self) -> list[Credential]:
        found = sorted(self._credentials.values(), key=lambda c: (c.name, c.id))
        return [attrs.evolve(c, data=None) for c in found]

    async def update(
        self,
        credential_id: str,
        *,
        name: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Credential:
        new_data = None if data is None else copy.deepcopy(data)
        credential = updated_credential(self._find(credential_id), name=name, data=new_data)
        self._credentials[credential_id] = credential
        return _copy(credential)

    async def delete(self, credential_id: str) -> None:
        self._find(credential_id)
        del self._credentials[credential_id]

    def _find(self, credential_id: str) -> Credential:
        try:
            return self._credentials[credential_id]
        except KeyError:
            raise ExecutionNotFoundError("credential", credential_id) from None


def _copy(credential: Credential) -> Credential:
    return attrs.evolve(credential, data=copy.deepcopy(credential.data))


def _id_in_use(credential_id: str) -> WorkflowValidationError:
    return WorkflowValidationError(
        [{"field": "id", "message": f"a credential with id {credential_id!r} exists already"}]
    )
