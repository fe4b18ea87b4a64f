"""What the credential tests share: the PostgreSQL database, the key, reopening a store."""

from __future__ import annotations

import os

import psycopg

from linkflow_engine.credentials import CredentialCipher, CredentialStore
from linkflow_engine.credentials.postgres import PostgresCredentialStore
from linkflow_engine.credentials.sqlite import SQLiteCredentialStore

POSTGRES_DSN = os.environ.get(
    "LINKFLOW_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
KEY = CredentialCipher.generate_key()


def drop_schema(schema: str) -> None:
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def reopened(store: CredentialStore, key: str) -> CredentialStore:
    """The same database opened with another key (as another process would)."""
    if isinstance(store, SQLiteCredentialStore):
        return SQLiteCredentialStore(store.path, cipher=CredentialCipher(key))
    assert isinstance(store, PostgresCredentialStore)
    return PostgresCredentialStore(store.dsn, schema=store.schema, cipher=CredentialCipher(key))
