"""An engine on memory storage behind the app, and a client that speaks to it in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from http_documents import API_KEY, USER

from linkflow_engine import Engine
from linkflow_engine.http import create_app


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    async with Engine() as running:
        yield running


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(engine, api_keys={API_KEY: USER}, max_body_bytes=10_000)
    transport = httpx.ASGITransport(app)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test/api/v1", headers=headers
    ) as http:
        yield http
