"""Credentials in the SQLite database of :class:`~linkflow_engine.storage.sqlite.SQLiteStorage`
(the table comes with the storage's migrations; the connection is opened on first use)."""

from __future__ import annotations

from ._sql_store import SQLCredentialStore
from ._tables import SQLiteTables

__all__ = ["SQLiteCredentialStore"]


class SQLiteCredentialStore(SQLiteTables, SQLCredentialStore):
    """Credentials in a SQLite file, ``data`` encrypted with ``cipher`` (default: the key from
    ``LINKFLOW_ENCRYPTION_KEY`` or the key file, see :class:`CredentialCipher`)."""
