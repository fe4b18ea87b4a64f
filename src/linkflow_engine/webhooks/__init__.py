"""Webhook triggers: the webhook model, the store protocol and stores, request authentication,
rate limits, and the dispatcher that turns a request to ``/webhook/{path}`` into an execution.

``MemoryWebhookStore`` is here; the SQL stores are in ``webhooks.sqlite`` and
``webhooks.postgres`` (imported on use). :func:`webhook_store_for` picks the store that shares
a storage's database. The HTTP adapter (``linkflow_engine.http``) serves it; see
``docs/webhooks.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._auth import WebhookAuthError, hmac_signature, verify_request
from ._dispatch import WebhookAnswer, WebhookDispatcher, last_output
from ._guards import RateLimiter, ip_allowed
from ._model import (
    AUTH_TYPES,
    MASK,
    METHODS,
    OPTIONS,
    RESPONSE_MODES,
    Webhook,
    WebhookLogEntry,
    new_path,
    parse_settings,
)
from ._request import WebhookRequest, trigger_input
from ._sync import NodeWebhooks, node_webhook_id
from .base import DEFAULT_KEPT_LOGS, WebhookConflictError, WebhookStore
from .memory import MemoryWebhookStore

if TYPE_CHECKING:
    from ..credentials import CredentialCipher
    from ..storage.base import Storage

__all__ = [
    "AUTH_TYPES",
    "DEFAULT_KEPT_LOGS",
    "MASK",
    "METHODS",
    "OPTIONS",
    "RESPONSE_MODES",
    "MemoryWebhookStore",
    "NodeWebhooks",
    "RateLimiter",
    "Webhook",
    "WebhookAnswer",
    "WebhookAuthError",
    "WebhookConflictError",
    "WebhookDispatcher",
    "WebhookLogEntry",
    "WebhookRequest",
    "WebhookStore",
    "hmac_signature",
    "ip_allowed",
    "last_output",
    "new_path",
    "node_webhook_id",
    "parse_settings",
    "trigger_input",
    "verify_request",
    "webhook_store_for",
]


def webhook_store_for(storage: Storage, *, cipher: CredentialCipher | None = None) -> WebhookStore:
    """The webhook store in the same database as ``storage`` (memory for memory storage)."""
    # By class name, as credential_store_for does: no database driver loads unless used.
    kinds = {cls.__name__ for cls in type(storage).__mro__}
    if "SQLiteStorage" in kinds:
        from .sqlite import SQLiteWebhookStore

        return SQLiteWebhookStore(storage.path, cipher=cipher)  # type: ignore[attr-defined]
    if "PostgresStorage" in kinds:
        from .postgres import PostgresWebhookStore

        dsn, schema = storage.dsn, storage.schema  # type: ignore[attr-defined]
        return PostgresWebhookStore(dsn, schema=schema, cipher=cipher)
    return MemoryWebhookStore()
