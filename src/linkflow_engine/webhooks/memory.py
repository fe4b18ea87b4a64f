"""Webhooks in memory: for tests and engines on memory storage (nothing at rest to encrypt)."""

from __future__ import annotations

import builtins
import copy
from collections import deque

import attrs

from .._exceptions import ExecutionNotFoundError
from ._model import Webhook, WebhookLogEntry
from .base import DEFAULT_KEPT_LOGS, WebhookConflictError

__all__ = ["MemoryWebhookStore"]


class MemoryWebhookStore:
    """A :class:`~linkflow_engine.webhooks.WebhookStore` in dicts."""

    def __init__(self) -> None:
        self._webhooks: dict[str, Webhook] = {}
        self._logs: dict[str, deque[WebhookLogEntry]] = {}

    def __repr__(self) -> str:
        return f"MemoryWebhookStore({len(self._webhooks)} webhooks)"

    async def open(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

    async def create(self, webhook: Webhook) -> Webhook:
        if webhook.id in self._webhooks:
            raise WebhookConflictError("id", webhook.id)
        self._check_path(webhook)
        self._webhooks[webhook.id] = _copy(webhook)
        return _copy(webhook)

    async def get(self, webhook_id: str) -> Webhook:
        return _copy(self._find(webhook_id))

    async def find_by_path(self, path: str) -> Webhook | None:
        found = next((w for w in self._webhooks.values() if w.path == path), None)
        return None if found is None else _copy(found)

    async def list(self, *, workflow_id: str | None = None) -> list[Webhook]:
        found = [w for w in self._webhooks.values() if workflow_id in (None, w.workflow_id)]
        return [_copy(w) for w in sorted(found, key=lambda w: (w.created_at, w.id))]

    async def update(self, webhook: Webhook) -> Webhook:
        old = self._find(webhook.id)
        self._check_path(webhook)
        stored = attrs.evolve(
            webhook,
            created_at=old.created_at,
            last_triggered=old.last_triggered,
            trigger_count=old.trigger_count,
        )
        self._webhooks[webhook.id] = _copy(stored)
        return _copy(stored)

    async def delete(self, webhook_id: str) -> None:
        self._find(webhook_id)
        del self._webhooks[webhook_id]
        self._logs.pop(webhook_id, None)

    async def record_trigger(self, webhook_id: str, at: str) -> None:
        old = self._webhooks.get(webhook_id)
        if old is not None:
            count = old.trigger_count + 1
            self._webhooks[webhook_id] = attrs.evolve(old, trigger_count=count, last_triggered=at)

    async def add_log(
        self, webhook_id: str, entry: WebhookLogEntry, *, keep: int = DEFAULT_KEPT_LOGS
    ) -> None:
        log = self._logs.setdefault(webhook_id, deque())
        log.append(entry)
        while len(log) > keep:
            log.popleft()

    async def logs(
        self, webhook_id: str, *, limit: int = DEFAULT_KEPT_LOGS
    ) -> builtins.list[WebhookLogEntry]:
        return list(reversed(self._logs.get(webhook_id, ())))[:limit]

    def _find(self, webhook_id: str) -> Webhook:
        try:
            return self._webhooks[webhook_id]
        except KeyError:
            raise ExecutionNotFoundError("webhook", webhook_id) from None

    def _check_path(self, webhook: Webhook) -> None:
        for other in self._webhooks.values():
            if other.path == webhook.path and other.id != webhook.id:
                raise WebhookConflictError("path", webhook.path)


def _copy(webhook: Webhook) -> Webhook:
    # Deep: a caller changing an options list must not change the stored webhook.
    return copy.deepcopy(webhook)
