"""The engine's HTTP client holds every connection to the outbound policy, at connect time."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import anyio
import pytest
from http_upstream import Upstream, serve, workflow

from linkflow_engine import Engine, NodeRegistry
from linkflow_engine.runtime._records import Execution


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    yield from serve()


def fetch_registry(*, check_first: bool) -> NodeRegistry:
    """A plugin node that GETs ``config.url`` with the engine's client."""
    registry = NodeRegistry()

    @registry.register("fetch")
    async def fetch(ctx: Any) -> dict[str, Any]:
        url = ctx.config["url"]
        if check_first:
            await ctx.outbound.check(url)
        answer = await ctx.http.get(url)
        return {"status": answer.status_code}

    return registry


async def fetch(url: str, registry: NodeRegistry, allow: list[str] | None = None) -> Execution:
    document = {
        "nodes": [
            {"id": "start", "type": "manual_trigger"},
            {"id": "get", "type": "fetch", "config": {"url": url}},
        ],
        "connections": [{"source": "start", "target": "get"}],
    }
    async with Engine(registry=registry, allow_outbound=allow or []) as engine:
        return await engine.execute(document)


async def test_a_node_that_skips_the_check_is_still_refused(upstream: Upstream) -> None:
    """A plugin node using ctx.http without ctx.outbound.check() cannot reach a
    loopback server; allowed explicitly, it can."""
    before = upstream.calls["/json"]
    refused = await fetch(f"{upstream.url}/json", fetch_registry(check_first=False))
    assert refused.error is not None and refused.error.code == "OUTBOUND_REFUSED"
    assert "127.0.0.1" in refused.error.message
    assert upstream.calls["/json"] == before
    allowed = await fetch(
        f"{upstream.url}/json", fetch_registry(check_first=False), allow=["127.0.0.1"]
    )
    assert allowed.outputs["get"] == {"status": 200}
    assert upstream.calls["/json"] == before + 1


async def test_dns_rebinding_between_check_and_connect_is_refused(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name answering a public address to the node's check and loopback to the connection
    (DNS rebinding) is refused when connecting; the loopback server gets nothing. The
    resolver is the one thing faked: no real DNS server can be made to rebind here."""
    port = int(upstream.url.rsplit(":", 1)[1])
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    real = anyio.getaddrinfo

    async def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return await real(host, *args, **kwargs)
        address = next(answers)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(anyio, "getaddrinfo", rebinding)
    before = upstream.calls["/json"]
    execution = await fetch(f"http://rebind.test:{port}/json", fetch_registry(check_first=True))
    assert execution.error is not None and execution.error.code == "OUTBOUND_REFUSED"
    assert "rebind.test resolves to 127.0.0.1" in execution.error.message
    assert upstream.calls["/json"] == before
    # The built-in http_request node reports it as every refusal: HTTP_ERROR naming the URL.
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1"])
    url = f"http://rebind.test:{port}/json"
    async with Engine() as engine:
        node_run = await engine.execute(workflow({"url": url}))
    assert node_run.error is not None and node_run.error.code == "HTTP_ERROR"
    assert node_run.error.details["url"] == url
    assert "resolves to 127.0.0.1" in node_run.error.details["reason"]
    assert upstream.calls["/json"] == before
