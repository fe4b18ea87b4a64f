"""Creating a workflow and a webhook for it through the API, in one call."""

from __future__ import annotations

from typing import Any

import httpx
from hook_docs import workflow


async def hooked(
    api: httpx.AsyncClient,
    *,
    after: list[dict[str, Any]] | None = None,
    workflow_id: str = "wf-hook",
    **settings: Any,
) -> dict[str, Any]:
    """Store an active workflow and create a webhook for it with ``settings``; the webhook."""
    stored = await api.post("/workflows", json=workflow(workflow_id, after=after))
    assert stored.status_code == 201, stored.text
    created = await api.post("/webhooks", json={"workflowId": workflow_id, **settings})
    assert created.status_code == 201, created.text
    webhook: dict[str, Any] = created.json()["data"]["webhook"]
    return webhook
