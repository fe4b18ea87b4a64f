"""The WebhookStore contract, run against memory, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import attrs
import psycopg
import pytest

from linkflow_engine import CredentialError, ExecutionNotFoundError
from linkflow_engine.credentials import CredentialCipher
from linkflow_engine.webhooks import (
    MemoryWebhookStore,
    Webhook,
    WebhookConflictError,
    WebhookLogEntry,
    WebhookStore,
)
from linkflow_engine.webhooks.postgres import PostgresWebhookStore
from linkflow_engine.webhooks.sqlite import SQLiteWebhookStore

POSTGRES_DSN = os.environ.get(
    "LINKFLOW_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
)
KEY = CredentialCipher.generate_key()
AUTH = {"type": "basic", "username": "u", "password": "pass-word"}


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def hooks(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WebhookStore]:
    """An open, empty webhook store of each backend."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    backend: WebhookStore = {
        "memory": lambda: MemoryWebhookStore(),
        "sqlite": lambda: SQLiteWebhookStore(tmp_path / "db", cipher=CredentialCipher(KEY)),
        "postgres": lambda: PostgresWebhookStore(
            POSTGRES_DSN, schema=schema, cipher=CredentialCipher(KEY)
        ),
    }[request.param]()
    await backend.open()
    try:
        yield backend
    finally:
        await backend.aclose()
        if request.param == "postgres":
            with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def webhook(path: str = "p", **changes: object) -> Webhook:
    base = Webhook(
        workflow_id="wf-1",
        node_id="hook",
        name="Hook",
        path=path,
        authentication=AUTH,
        response_body={"ok": [1, 2]},
        response_headers={"X-A": "b"},
        options={"timeout": 5, "ipWhitelist": ["10.0.0.0/8"]},
        created_at=f"2026-01-01T00:00:0{len(path) % 10}.000Z",
    )
    return attrs.evolve(base, **changes)


async def test_create_then_get_and_find_by_path_round_trip(hooks: WebhookStore) -> None:
    """Every field comes back as stored, secrets decrypted."""
    created = await hooks.create(webhook())
    assert await hooks.get(created.id) == created
    assert await hooks.find_by_path("p") == created
    assert await hooks.find_by_path("q") is None


async def test_a_taken_id_or_path_is_a_conflict(hooks: WebhookStore) -> None:
    """create raises WebhookConflictError naming the field; update too for a path."""
    first = await hooks.create(webhook())
    with pytest.raises(WebhookConflictError) as by_path:
        await hooks.create(webhook())
    assert by_path.value.field == "path"
    with pytest.raises(WebhookConflictError) as by_id:
        await hooks.create(webhook("other", id=first.id))
    assert by_id.value.field == "id"
    second = await hooks.create(webhook("second"))
    with pytest.raises(WebhookConflictError):
        await hooks.update(attrs.evolve(second, path="p"))


async def test_list_filters_by_workflow_oldest_first(hooks: WebhookStore) -> None:
    """list orders by createdAt then id; workflow_id filters."""
    late = await hooks.create(webhook("late1", created_at="2026-02-01T00:00:00.000Z"))
    early = await hooks.create(webhook("early", created_at="2026-01-01T00:00:00.000Z"))
    other = await hooks.create(webhook("x", workflow_id="wf-2"))
    assert [w.id for w in await hooks.list(workflow_id="wf-1")] == [early.id, late.id]
    assert {w.id for w in await hooks.list()} == {early.id, late.id, other.id}


async def test_update_replaces_settings_but_keeps_counts(hooks: WebhookStore) -> None:
    """update changes the configuration; createdAt, triggerCount, lastTriggered stay."""
    created = await hooks.create(webhook())
    await hooks.record_trigger(created.id, "2026-03-01T00:00:00.000Z")
    changed = attrs.evolve(created, path="moved", is_active=False, options={}, trigger_count=99)
    stored = await hooks.update(changed)
    assert (stored.path, stored.is_active, stored.options) == ("moved", False, {})
    assert (stored.trigger_count, stored.last_triggered) == (1, "2026-03-01T00:00:00.000Z")
    assert stored.created_at == created.created_at
    with pytest.raises(ExecutionNotFoundError):
        await hooks.update(webhook("ghost", id="wh-ghost"))


async def test_record_trigger_counts_concurrent_requests(hooks: WebhookStore) -> None:
    """record_trigger is atomic: 20 at once count 20."""
    created = await hooks.create(webhook())
    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(hooks.record_trigger, created.id, "2026-03-01T00:00:00.000Z")
    assert (await hooks.get(created.id)).trigger_count == 20
    await hooks.record_trigger("wh-unknown", "2026-03-01T00:00:00.000Z")


async def test_logs_keep_the_newest_entries(hooks: WebhookStore) -> None:
    """add_log keeps ``keep`` entries; logs answers newest first."""
    created = await hooks.create(webhook())
    for status in range(200, 206):
        entry = WebhookLogEntry(timestamp=f"t{status}", method="POST", status=status)
        await hooks.add_log(created.id, entry, keep=3)
    assert [e.status for e in await hooks.logs(created.id)] == [205, 204, 203]
    assert [e.status for e in await hooks.logs(created.id, limit=1)] == [205]
    assert await hooks.logs("wh-unknown") == []


async def test_delete_removes_the_webhook_and_its_logs(hooks: WebhookStore) -> None:
    """delete; a second delete or a get is ExecutionNotFoundError."""
    created = await hooks.create(webhook())
    await hooks.add_log(created.id, WebhookLogEntry(timestamp="t", method="GET", status=200))
    await hooks.delete(created.id)
    assert await hooks.logs(created.id) == []
    with pytest.raises(ExecutionNotFoundError):
        await hooks.get(created.id)
    with pytest.raises(ExecutionNotFoundError):
        await hooks.delete(created.id)


async def test_sqlite_keeps_secrets_encrypted_at_rest(tmp_path: Path) -> None:
    """The database file holds no secret; another key cannot read it (CredentialError)."""
    path = tmp_path / "db"
    store = SQLiteWebhookStore(path, cipher=CredentialCipher(KEY))
    await store.create(webhook())
    await store.aclose()
    with sqlite3.connect(path) as connection:
        dumped = "\n".join(connection.iterdump())
    assert "pass-word" not in dumped
    other = SQLiteWebhookStore(path, cipher=CredentialCipher(CredentialCipher.generate_key()))
    try:
        with pytest.raises(CredentialError):
            await other.find_by_path("p")
    finally:
        await other.aclose()
    connection.close()
