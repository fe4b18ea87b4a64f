"""The :class:`WebhookStore` protocol (the whole contract) and its conflict error."""

from __future__ import annotations

import builtins
from typing import ClassVar, Protocol

from .._exceptions import LinkflowError
from ._model import Webhook, WebhookLogEntry

__all__ = ["DEFAULT_KEPT_LOGS", "WebhookConflictError", "WebhookStore"]

# Requests remembered per webhook: enough to debug a sender, bounded so a busy hook's log
# never grows without end.
DEFAULT_KEPT_LOGS = 100


class WebhookConflictError(LinkflowError):
    """Another webhook already has this path (or id)."""

    code: ClassVar[str] = "CONFLICT"

    def __init__(self, field: str, value: str) -> None:
        self.field = field
        self.value = value
        super().__init__(f"a webhook with {field} {value!r} exists already")


class WebhookStore(Protocol):
    """Where webhook records and their request logs live. Every implementation passes
    ``tests/webhooks/test_webhooks_store.py``.

    Stores connect lazily: the first call opens what is needed, :meth:`open` does it eagerly
    and :meth:`aclose` releases it (the store can be used again afterwards). SQL stores keep
    ``authentication`` encrypted at rest; reads return it decrypted (the API masks it) and raise
    :class:`~linkflow_engine.CredentialError` when the configured key cannot decrypt it.
    """

    async def open(self) -> None:
        """Connect now (and create the tables when missing)."""

    async def aclose(self) -> None:
        """Release connections."""

    async def create(self, webhook: Webhook) -> Webhook:
        """Store a new webhook and return it. Raises WebhookConflictError (``CONFLICT``)
        when its id or its path is taken."""
        ...

    async def get(self, webhook_id: str) -> Webhook:
        """The webhook; ExecutionNotFoundError (``NOT_FOUND``, kind ``webhook``) if none."""
        ...

    async def find_by_path(self, path: str) -> Webhook | None:
        """The webhook served at ``path`` (active or not), or None."""
        ...

    async def list(self, *, workflow_id: str | None = None) -> list[Webhook]:
        """Every webhook (of one workflow), oldest first (then by id)."""
        ...

    async def update(self, webhook: Webhook) -> Webhook:
        """Replace the stored webhook of ``webhook.id`` by ``webhook`` (all fields except
        ``createdAt``, ``lastTriggered`` and ``triggerCount``, which the store keeps) and
        return what is stored. Raises ExecutionNotFoundError, or WebhookConflictError when the
        new path belongs to another webhook."""
        ...

    async def delete(self, webhook_id: str) -> None:
        """Remove the webhook and its logs; ExecutionNotFoundError if none."""
        ...

    async def record_trigger(self, webhook_id: str, at: str) -> None:
        """Count one triggered execution: ``triggerCount`` + 1 and ``lastTriggered = at``,
        atomically (concurrent requests, several processes). Unknown ids are ignored."""
        ...

    async def add_log(
        self, webhook_id: str, entry: WebhookLogEntry, *, keep: int = DEFAULT_KEPT_LOGS
    ) -> None:
        """Append a request to the webhook's log, keeping only the newest ``keep``."""
        ...

    async def logs(
        self, webhook_id: str, *, limit: int = DEFAULT_KEPT_LOGS
    ) -> builtins.list[WebhookLogEntry]:
        """The newest ``limit`` entries, newest first (empty for unknown ids)."""
        ...
