"""Credentials: the store protocol, encryption at rest, redaction, and the stores.

``MemoryCredentialStore`` is here; the SQL stores are in ``credentials.sqlite`` and
``credentials.postgres`` (imported on use, so the core never loads a database driver).
:func:`credential_store_for` picks the store that shares a storage's database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._cipher import CredentialCipher, default_key_file
from ._oauth2 import OAuth2Tokens
from ._redaction import REDACTED, Redactor
from .base import CREDENTIAL_TYPES, MASK, Credential, CredentialStore
from .memory import MemoryCredentialStore

if TYPE_CHECKING:
    from ..storage.base import Storage

__all__ = [
    "CREDENTIAL_TYPES",
    "MASK",
    "REDACTED",
    "Credential",
    "CredentialCipher",
    "CredentialStore",
    "MemoryCredentialStore",
    "OAuth2Tokens",
    "Redactor",
    "credential_store_for",
    "default_key_file",
]


def credential_store_for(
    storage: Storage, *, cipher: CredentialCipher | None = None
) -> CredentialStore:
    """The credential store in the same database as ``storage`` (memory for memory storage)."""
    # By class name: importing the storage modules here would load sqlite3 or psycopg for
    # engines that use neither.
    kinds = {cls.__name__ for cls in type(storage).__mro__}
    if "SQLiteStorage" in kinds:
        from .sqlite import SQLiteCredentialStore

        return SQLiteCredentialStore(storage.path, cipher=cipher)  # type: ignore[attr-defined]
    if "PostgresStorage" in kinds:
        from .postgres import PostgresCredentialStore

        dsn, schema = storage.dsn, storage.schema  # type: ignore[attr-defined]
        return PostgresCredentialStore(dsn, schema=schema, cipher=cipher)
    return MemoryCredentialStore()
