"""Credentials in the PostgreSQL schema of :class:`~linkflow_engine.storage.postgres.
PostgresStorage` (install the ``[postgres]`` extra; the pool is opened on first use)."""

from __future__ import annotations

from ._sql_store import SQLCredentialStore
from ._tables import PostgresTables

__all__ = ["PostgresCredentialStore"]


class PostgresCredentialStore(PostgresTables, SQLCredentialStore):
    """Credentials in one PostgreSQL schema, ``data`` encrypted with ``cipher``."""
