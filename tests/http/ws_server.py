"""A real uvicorn server around the ``/ws`` route, and a client that reads like the protocol."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from linkflow_engine.http._websocket import Authenticate, websocket_endpoint
from linkflow_engine.runtime import Engine

KEYS = {"key-alice": "alice", "key-bob": "bob"}


def authenticate(token: str) -> str | None:
    """The test's API keys: two users."""
    return KEYS.get(token)


@contextlib.asynccontextmanager
async def serving(
    engine: Engine, auth: Authenticate | None = None, **options: Any
) -> AsyncIterator[str]:
    """Serve ``/ws`` for ``engine`` on a free loopback port; yields its ``ws://`` URL."""
    app = Starlette(routes=[websocket_endpoint(engine, auth, **options)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as task_group:
        task_group.start_soon(server.serve)
        while not server.started:
            await anyio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}/ws"
        finally:
            server.should_exit = True


@contextlib.asynccontextmanager
async def client(url: str, **options: Any) -> AsyncIterator[ClientConnection]:
    """A ``websockets`` client connection (closed on exit)."""
    async with connect(url, open_timeout=5, **options) as websocket:
        yield websocket


async def send(websocket: ClientConnection, message: dict[str, Any]) -> None:
    await websocket.send(json.dumps(message))


async def receive(websocket: ClientConnection, within: float = 5.0) -> dict[str, Any]:
    """The next message, parsed (TimeoutError when none comes ``within`` seconds)."""
    with anyio.fail_after(within):
        data: dict[str, Any] = json.loads(await websocket.recv())
    return data


async def subscribe(websocket: ClientConnection, **fields: Any) -> dict[str, Any]:
    """Subscribe (the spec's execution channel unless ``channel`` says otherwise); the ack."""
    await send(websocket, {"type": "subscribe", "channel": "execution", **fields})
    ack = await receive(websocket)
    assert ack["type"] == "subscribed", ack
    return ack


async def events_until(websocket: ClientConnection, *final: str) -> list[dict[str, Any]]:
    """Messages up to and including the first whose type is in ``final`` (default: the end
    of an execution)."""
    final = final or ("execution.completed", "execution.failed", "execution.cancelled")
    received = []
    with anyio.fail_after(10):
        while True:
            message = await receive(websocket)
            received.append(message)
            if message["type"] in final:
                return received


async def nothing_arrives(websocket: ClientConnection, within: float = 0.3) -> bool:
    """True when no message comes within ``within`` seconds."""
    try:
        message = await receive(websocket, within)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected message {message}")


async def read_until_closed(
    websocket: ClientConnection,
) -> tuple[list[dict[str, Any]], int | None]:
    """Every message left, and the close code the server sent (None: no close frame)."""
    received = []
    with anyio.fail_after(10):
        try:
            while True:
                received.append(await receive(websocket))
        except ConnectionClosed as closed:
            return received, closed.rcvd.code if closed.rcvd is not None else None


def sequences(messages: list[dict[str, Any]]) -> list[int]:
    return [m["sequence"] for m in messages if "sequence" in m]
