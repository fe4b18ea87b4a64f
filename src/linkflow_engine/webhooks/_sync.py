"""Webhook records for the ``webhook_trigger`` nodes of active workflows.

One mechanism serves every webhook: records. A ``webhook_trigger`` node with a ``config.path``
in an active workflow gets a record (source ``node``, id derived from the workflow and node ids,
settings from the node's config). Records are brought in line with the workflows whenever the
stored workflows change, which a cheap fingerprint (the newest workflow version and the count)
detects on the next webhook request or API call: edits, activations and deactivations take
effect at once, in every process, without a restart or a hook into the engine.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import ExecutionNotFoundError
from ._model import Webhook, now_text, parse_settings
from .base import WebhookConflictError, WebhookStore

if TYPE_CHECKING:
    from ..graph import Node, Workflow
    from ..runtime import Engine

__all__ = ["NodeWebhooks", "node_webhook_id"]

logger = logging.getLogger("linkflow_engine.webhooks")

_NODE_FIELDS = (
    "path",
    "method",
    "authentication",
    "responseMode",
    "responseCode",
    "responseBody",
    "responseHeaders",
    "options",
)
_PAGE = 500


def node_webhook_id(workflow_id: str, node_id: str) -> str:
    """The record id of a node's webhook: the same in every process, so syncs converge."""
    digest = hashlib.sha256(f"{workflow_id}\0{node_id}".encode()).hexdigest()
    return f"wh-node-{digest[:16]}"


class NodeWebhooks:
    """Keeps the ``node`` records of a store in line with the stored workflows."""

    def __init__(self, engine: Engine, store: WebhookStore) -> None:
        self.engine = engine
        self.store = store
        self._seen: tuple[Any, ...] | None = None
        self._lock = anyio.Lock()

    async def refresh(self) -> None:
        """Sync if any workflow changed since the last sync (one small storage read if not)."""
        fingerprint = await self._fingerprint()
        if fingerprint == self._seen:
            return
        async with self._lock:
            if fingerprint != self._seen:
                await self._sync()
                self._seen = fingerprint

    async def _fingerprint(self) -> tuple[Any, ...]:
        # Every save stores a new version and becomes the newest; a delete changes the total.
        newest, total = await self.engine.list_workflows(limit=1)
        return (total, *((newest[0].id, newest[0].version) if newest else ()))

    async def _sync(self) -> None:
        active = await self._active_workflows()
        wanted = {h.id: h for w in active.values() for h in self._declared(w)}
        existing = {h.id: h for h in await self.store.list() if h.source == "node"}
        for webhook in wanted.values():
            await self._put(webhook, existing.get(webhook.id), active)
        for webhook in existing.values():
            if webhook.id not in wanted and await self._gone(webhook, active):
                await self.store.delete(webhook.id)

    async def _active_workflows(self) -> dict[str, Workflow]:
        found: dict[str, Workflow] = {}
        while True:
            page, total = await self.engine.list_workflows(
                status="active", limit=_PAGE, offset=len(found)
            )
            found.update((w.id, w) for w in page if w.id is not None)
            if not page or len(found) >= total:
                return found

    def _declared(self, workflow: Workflow) -> list[Webhook]:
        return [
            webhook
            for node in workflow.nodes
            if node.type == "webhook_trigger" and not node.disabled and node.config.get("path")
            if (webhook := _node_webhook(workflow, node)) is not None
        ]

    async def _put(
        self, webhook: Webhook, current: Webhook | None, active: dict[str, Workflow]
    ) -> None:
        try:
            if current is None:
                await self.store.create(webhook)
            elif _settings_differ(webhook, current):
                await self.store.update(webhook)
        except WebhookConflictError:
            await self._take_path(webhook, current, active)

    async def _take_path(
        self, webhook: Webhook, current: Webhook | None, active: dict[str, Workflow]
    ) -> None:
        """A path held by another workflow's node record passes to this active workflow when
        the holder's workflow is no longer active (a copy activated, the original stopped)."""
        holder = await self.store.find_by_path(webhook.path)
        if holder is None or holder.source != "node" or holder.workflow_id in active:
            logger.warning(
                "webhook_trigger %r of workflow %r: path %r is taken by webhook %r",
                webhook.node_id,
                webhook.workflow_id,
                webhook.path,
                holder.id if holder else None,
            )
            return
        await self.store.delete(holder.id)
        await (self.store.create(webhook) if current is None else self.store.update(webhook))

    async def _gone(self, webhook: Webhook, active: dict[str, Workflow]) -> bool:
        """Whether a node record no longer has its node: its active workflow dropped the node
        (or its path), or the workflow was deleted. An inactive workflow keeps its records
        (not served) so its counts and logs survive a deactivate/activate."""
        if webhook.workflow_id in active:
            return True
        try:
            await self.engine.get_workflow(webhook.workflow_id)
        except ExecutionNotFoundError:
            return True
        return False


def _node_webhook(workflow: Workflow, node: Node) -> Webhook | None:
    assert workflow.id is not None  # stored workflows have ids
    config = {k: node.config[k] for k in _NODE_FIELDS if k in node.config}
    try:
        fields = parse_settings(config, prefix=f"nodes[{node.id}].config.")
    except Exception as error:  # one bad node config must not take every webhook down
        message = "webhook_trigger %r of workflow %r not served: %s"
        logger.warning(message, node.id, workflow.id, error)
        return None
    now = now_text()
    return Webhook(
        id=node_webhook_id(workflow.id, node.id),
        workflow_id=workflow.id,
        node_id=node.id,
        source="node",
        name=node.name,
        created_at=now,
        updated_at=now,
        **fields,
    )


_COMPARED = (
    "name",
    "path",
    "method",
    "is_active",
    "authentication",
    "response_mode",
    "response_code",
    "response_body",
    "response_headers",
    "options",
)


def _settings_differ(wanted: Webhook, current: Webhook) -> bool:
    return any(getattr(wanted, name) != getattr(current, name) for name in _COMPARED)
