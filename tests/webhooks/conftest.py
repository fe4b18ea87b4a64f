"""An engine on memory storage, the app over it with a memory webhook store, and two clients:
``api`` (with the key, under /api/v1) and ``sender`` (no key, for /webhook/...)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hook_docs import API_KEY, USER

from linkflow_engine import Engine
from linkflow_engine.http import create_app
from linkflow_engine.webhooks import MemoryWebhookStore


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with Engine() as running:
        yield running


@pytest.fixture
def store() -> MemoryWebhookStore:
    return MemoryWebhookStore()


@pytest.fixture
def app(engine: Engine, store: MemoryWebhookStore) -> Any:
    return create_app(engine, api_keys={API_KEY: USER}, max_body_bytes=10_000, webhooks=store)


@pytest.fixture
async def api(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test/api/v1", headers=headers
    ) as client:
        yield client


@pytest.fixture
async def sender(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app, client=("203.0.113.7", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test/webhook") as client:
        yield client
