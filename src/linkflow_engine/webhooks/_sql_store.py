"""What the SQLite and PostgreSQL webhook stores share: the statements, encryption, rows.

A backend supplies three primitives running ``?``-placeholder statements, as the credential
stores do. ``authentication`` is kept as the Fernet token of its JSON; the rest of the
configuration (body, headers, options) is one JSON text column, read and written whole.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Sequence
from typing import Any

from .._exceptions import ExecutionNotFoundError
from ..credentials._tables import EncryptedTables
from ._model import Webhook, WebhookLogEntry
from .base import DEFAULT_KEPT_LOGS, WebhookConflictError

__all__ = ["SQLWebhookStore"]

_COLUMNS = (
    "id, workflow_id, node_id, source, name, path, method, is_active, response_mode,"
    " response_code, created_at, updated_at, last_triggered, trigger_count, settings,"
    " authentication"
)
# No conflict target: either unique column (id, path) makes the insert a no-op.
_INSERT = f"INSERT INTO webhooks ({_COLUMNS}) VALUES ({', '.join('?' * 16)}) ON CONFLICT DO NOTHING"
_SELECT = f"SELECT {_COLUMNS} FROM webhooks"
_UPDATE = (
    "UPDATE webhooks SET workflow_id = ?, node_id = ?, source = ?, name = ?, path = ?,"
    " method = ?, is_active = ?, response_mode = ?, response_code = ?, updated_at = ?,"
    " settings = ?, authentication = ? WHERE id = ?"
)
_TRIGGERED = (
    "UPDATE webhooks SET trigger_count = trigger_count + 1, last_triggered = ? WHERE id = ?"
)
_LOG = (
    "INSERT INTO webhook_logs (webhook_id, timestamp, method, status, execution_id, error, ip)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# Everything at or below the newest entry that falls out of the window.
_PRUNE = (
    "DELETE FROM webhook_logs WHERE webhook_id = ? AND id <= (SELECT id FROM webhook_logs"
    " WHERE webhook_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)"
)
_LOGS = (
    "SELECT timestamp, method, status, execution_id, error, ip FROM webhook_logs"
    " WHERE webhook_id = ? ORDER BY id DESC LIMIT ?"
)


class SQLWebhookStore(EncryptedTables):
    """The :class:`~linkflow_engine.webhooks.WebhookStore` contract over SQL primitives."""

    async def create(self, webhook: Webhook) -> Webhook:
        row = (
            webhook.id,
            webhook.workflow_id,
            webhook.node_id,
            webhook.source,
            webhook.name,
            webhook.path,
            webhook.method,
            webhook.is_active,
            webhook.response_mode,
            webhook.response_code,
            webhook.created_at,
            webhook.updated_at,
            webhook.last_triggered,
            webhook.trigger_count,
            json.dumps(webhook.settings()),
            self.cipher.encrypt(webhook.authentication),
        )
        if not await self._run(_INSERT, row):
            raise await self._conflict(webhook)
        return webhook

    async def _conflict(self, webhook: Webhook) -> WebhookConflictError:
        if await self._one("SELECT 1 FROM webhooks WHERE id = ?", (webhook.id,)):
            return WebhookConflictError("id", webhook.id)
        return WebhookConflictError("path", webhook.path)

    async def get(self, webhook_id: str) -> Webhook:
        row = await self._one(_SELECT + " WHERE id = ?", (webhook_id,))
        if row is None:
            raise ExecutionNotFoundError("webhook", webhook_id)
        return self._webhook(row)

    async def find_by_path(self, path: str) -> Webhook | None:
        row = await self._one(_SELECT + " WHERE path = ?", (path,))
        return None if row is None else self._webhook(row)

    async def list(self, *, workflow_id: str | None = None) -> list[Webhook]:
        if workflow_id is None:
            rows = await self._all(_SELECT + " ORDER BY created_at, id", ())
        else:
            where = " WHERE workflow_id = ? ORDER BY created_at, id"
            rows = await self._all(_SELECT + where, (workflow_id,))
        return [self._webhook(row) for row in rows]

    async def update(self, webhook: Webhook) -> Webhook:
        owner = await self._one("SELECT id FROM webhooks WHERE path = ?", (webhook.path,))
        if owner is not None and owner[0] != webhook.id:
            raise WebhookConflictError("path", webhook.path)
        values = (
            webhook.workflow_id,
            webhook.node_id,
            webhook.source,
            webhook.name,
            webhook.path,
            webhook.method,
            webhook.is_active,
            webhook.response_mode,
            webhook.response_code,
            webhook.updated_at,
            json.dumps(webhook.settings()),
            self.cipher.encrypt(webhook.authentication),
            webhook.id,
        )
        if not await self._run(_UPDATE, values):
            raise ExecutionNotFoundError("webhook", webhook.id)
        return await self.get(webhook.id)

    async def delete(self, webhook_id: str) -> None:
        if not await self._run("DELETE FROM webhooks WHERE id = ?", (webhook_id,)):
            raise ExecutionNotFoundError("webhook", webhook_id)
        await self._run("DELETE FROM webhook_logs WHERE webhook_id = ?", (webhook_id,))

    async def record_trigger(self, webhook_id: str, at: str) -> None:
        await self._run(_TRIGGERED, (at, webhook_id))

    async def add_log(
        self, webhook_id: str, entry: WebhookLogEntry, *, keep: int = DEFAULT_KEPT_LOGS
    ) -> None:
        values = (webhook_id, entry.timestamp, entry.method, entry.status)
        await self._run(_LOG, (*values, entry.execution_id, entry.error, entry.ip))
        await self._run(_PRUNE, (webhook_id, webhook_id, keep))

    async def logs(
        self, webhook_id: str, *, limit: int = DEFAULT_KEPT_LOGS
    ) -> builtins.list[WebhookLogEntry]:
        rows = await self._all(_LOGS, (webhook_id, limit))
        return [
            WebhookLogEntry(timestamp=t, method=m, status=s, execution_id=e, error=error, ip=ip)
            for t, m, s, e, error, ip in rows
        ]

    def _webhook(self, row: Sequence[Any]) -> Webhook:
        settings = json.loads(row[14])
        return Webhook(
            id=row[0],
            workflow_id=row[1],
            node_id=row[2],
            source=row[3],
            name=row[4],
            path=row[5],
            method=row[6],
            is_active=bool(row[7]),
            response_mode=row[8],
            response_code=row[9],
            created_at=row[10],
            updated_at=row[11],
            last_triggered=row[12],
            trigger_count=row[13],
            response_body=settings.get("responseBody"),
            response_headers=settings.get("responseHeaders") or {},
            options=settings.get("options") or {},
            authentication=self.cipher.decrypt(row[15], row[0]),
        )
