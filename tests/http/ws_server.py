"""A real uvicorn server around the ``/ws`` route, and a client that reads like the protocol."""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

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
async def client(
    url: str, *, receive_buffer: int | None = None, **options: Any
) -> AsyncIterator[ClientConnection]:
    """A ``websockets`` client connection (closed on exit); ``receive_buffer`` shrinks its
    socket's kernel buffer, so that a client that does not read blocks the server soon."""
    if receive_buffer is not None:
        options["sock"] = _small_socket(url, receive_buffer)
    async with connect(url, open_timeout=5, **options) as websocket:
        yield websocket


def _small_socket(url: str, receive_buffer: int) -> socket.socket:
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect((host, int(port)))  # loopback: immediate
    sock.setblocking(False)
    return sock


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


class StalledClient:
    """A client that, once subscribed, reads nothing: its small socket buffer fills and the
    server's writes block, as for a peer on a stalled network (a ``websockets`` connection
    keeps reading into memory, so it cannot play this part)."""

    def __init__(self, sock: socket.socket, protocol: ClientProtocol) -> None:
        self.sock = sock
        self.protocol = protocol

    async def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        self.sock.sendall(b"".join(self.protocol.data_to_send()))

    async def receive(self) -> list[dict[str, Any]]:
        """The messages that arrive with the next read (maybe none)."""
        chunk = await self._read()
        if chunk:
            self.protocol.receive_data(chunk)
        else:
            self.protocol.receive_eof()
        frames = [e for e in self.protocol.events_received() if isinstance(e, Frame)]
        return [json.loads(frame.data) for frame in frames if frame.opcode is Opcode.TEXT]

    async def _read(self) -> bytes:
        # Polled: on this socket anyio.wait_readable missed data that arrived after a stall.
        while True:
            try:
                return self.sock.recv(1 << 20)
            except BlockingIOError:
                await anyio.sleep(0.005)

    async def read_until_closed(self) -> tuple[list[dict[str, Any]], int | None]:
        """Everything the server sent until it closed the connection, and its close code
        (None: it dropped the connection without a close frame)."""
        received: list[dict[str, Any]] = []
        # Reading again: a window of 4 KiB would take minutes to drain what the server buffered.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        with anyio.fail_after(10):
            while self.protocol.state is State.OPEN:
                received += await self.receive()
        return received, self.protocol.close_code


@contextlib.asynccontextmanager
async def stalled_client(url: str) -> AsyncIterator[StalledClient]:
    """A :class:`StalledClient` with a 4 KiB receive buffer, handshake done."""
    protocol = ClientProtocol(parse_uri(url))
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))  # loopback: the kernel completes it at once
        sock.setblocking(False)
        protocol.send_request(protocol.connect())
        sock.sendall(b"".join(protocol.data_to_send()))
        stalled = StalledClient(sock, protocol)
        with anyio.fail_after(5):
            while protocol.state is not State.OPEN:
                await stalled.receive()
        yield stalled


def sequences(messages: list[dict[str, Any]]) -> list[int]:
    return [m["sequence"] for m in messages if "sequence" in m]
