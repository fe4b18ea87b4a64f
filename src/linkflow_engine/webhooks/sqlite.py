"""Webhooks in the SQLite database of :class:`~linkflow_engine.storage.sqlite.SQLiteStorage`
(the tables come with the storage's migrations; the connection is opened on first use)."""

from __future__ import annotations

from ..credentials._tables import SQLiteTables
from ._sql_store import SQLWebhookStore

__all__ = ["SQLiteWebhookStore"]


class SQLiteWebhookStore(SQLiteTables, SQLWebhookStore):
    """Webhooks in a SQLite file, ``authentication`` encrypted with ``cipher`` (default: the
    key from ``LINKFLOW_ENCRYPTION_KEY`` or the key file, see :class:`CredentialCipher`)."""
