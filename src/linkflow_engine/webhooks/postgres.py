"""Webhooks in the PostgreSQL schema of :class:`~linkflow_engine.storage.postgres.
PostgresStorage` (install the ``[postgres]`` extra; the pool is opened on first use)."""

from __future__ import annotations

from ..credentials._tables import PostgresTables
from ._sql_store import SQLWebhookStore

__all__ = ["PostgresWebhookStore"]


class PostgresWebhookStore(PostgresTables, SQLWebhookStore):
    """Webhooks in one PostgreSQL schema, ``authentication`` encrypted with ``cipher``."""
