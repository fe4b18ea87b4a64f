"""What the SQLite and PostgreSQL credential stores share: the statements, encryption, rows.

Rows are ``(id, name, type, created_at, updated_at, data)`` where ``data`` is the Fernet token
of the JSON data. A backend supplies three primitives running ``?``-placeholder statements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import ExecutionNotFoundError, WorkflowValidationError
from ._tables import EncryptedTables
from .base import Credential, new_credential, updated_credential

__all__ = ["SQLCredentialStore"]

_COLUMNS = "id, name, type, created_at, updated_at"
_INSERT = (
    f"INSERT INTO credentials ({_COLUMNS}, data) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (id) DO NOTHING"
)
_SELECT = f"SELECT {_COLUMNS}, data FROM credentials WHERE id = ?"
_LIST = f"SELECT {_COLUMNS} FROM credentials ORDER BY name, id"
_UPDATE = "UPDATE credentials SET name = ?, updated_at = ?, data = ? WHERE id = ?"
_DELETE = "DELETE FROM credentials WHERE id = ?"


class SQLCredentialStore(EncryptedTables):
    """Create/get/list/update/delete on a ``credentials`` table, data encrypted."""

    async def create(
        self, *, name: str, type: str, data: Mapping[str, Any], id: str | None = None
    ) -> Credential:
        credential = new_credential(name=name, type=type, data=data, id=id)
        token = self.cipher.encrypt(credential.data or {})
        row = (credential.id, name, type, credential.created_at, credential.updated_at, token)
        if not await self._run(_INSERT, row):
            message = f"a credential with id {credential.id!r} exists already"
            raise WorkflowValidationError([{"field": "id", "message": message}])
        return credential

    async def get(self, credential_id: str) -> Credential:
        row = await self._one(_SELECT, (credential_id,))
        if row is None:
            raise ExecutionNotFoundError("credential", credential_id)
        return _credential(row[:5], self.cipher.decrypt(row[5], credential_id))

    async def list(self) -> list[Credential]:
        return [_credential(row, None) for row in await self._all(_LIST, ())]

    async def update(
        self,
        credential_id: str,
        *,
        name: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Credential:
        credential = updated_credential(await self.get(credential_id), name=name, data=data)
        token = self.cipher.encrypt(credential.data or {})
        values = (credential.name, credential.updated_at, token, credential_id)
        if not await self._run(_UPDATE, values):
            raise ExecutionNotFoundError("credential", credential_id)
        return credential

    async def delete(self, credential_id: str) -> None:
        if not await self._run(_DELETE, (credential_id,)):
            raise ExecutionNotFoundError("credential", credential_id)


def _credential(row: Sequence[Any], data: dict[str, Any] | None) -> Credential:
    id, name, type, created_at, updated_at = row
    return Credential(
        id=id, name=name, type=type, data=data, created_at=created_at, updated_at=updated_at
    )
