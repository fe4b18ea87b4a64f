"""The WebSocket at ``/ws``: live execution events, with replay from storage after a reconnect.

The protocol is described in docs/websocket.md. Clients send ``auth``, ``subscribe``,
``unsubscribe`` (channels ``execution``, ``workflow``, ``all``) and ``ping``; they receive every
event's wire form and ``{"type": "subscribed" | "unsubscribed" | "authenticated" | "pong" |
"error", "payload": {...}}``.

Events reach a connection through inline engine subscriptions that only put them in the
connection's bounded queue, so a client that reads slowly never slows an execution: when its
queue is full it is told (``OVERFLOW``) and disconnected.

Replay: live events are published *before* the recorder stores them, so an execution feed first
holds live events, then sends what storage has after ``afterSequence``, then what it held, and
from then on sends an event only when it follows the last one sent. A live event that jumps ahead
(the ones between were published before the subscription and are not stored yet) is held again
while storage catches up. Each client thus sees every sequence once, in order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import anyio
import attrs
from anyio.abc import TaskGroup
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .._exceptions import ExecutionNotFoundError, WorkflowValidationError
from .._stored_values import dump
from ..events import Event, Subscription
from ..runtime import Engine
from ._ws_protocol import Message, Request, parse_request

__all__ = ["Authenticate", "websocket_endpoint"]

Authenticate = Callable[[str], str | None]
"""Maps an API key to its user id, or to None when the key is not valid."""

CLOSE_UNAUTHORIZED = 4401
CLOSE_OVERFLOW = 1013  # "try again later": the client fell too far behind


@attrs.frozen(kw_only=True)
class _Limits:
    queue_size: int
    max_subscriptions: int
    auth_timeout: float
    gap_timeout: float


def websocket_endpoint(
    engine: Engine,
    authenticate: Authenticate | None,
    *,
    queue_size: int = 1000,
    max_subscriptions: int = 100,
    auth_timeout: float = 5.0,
    gap_timeout: float = 10.0,
) -> WebSocketRoute:
    """The ``/ws`` route streaming ``engine``'s events.

    :param authenticate: maps an API key to a user id (None: not valid); ``None`` turns auth off.
    :param queue_size: events a connection may have waiting before it is disconnected.
    :param max_subscriptions: subscriptions one connection may hold at once.
    :param auth_timeout: seconds a client without a bearer header has to send ``auth``.
    :param gap_timeout: seconds a feed holds live events while storage catches up with
        earlier ones it has not written yet; after that they are sent with the gap.
    """
    limits = _Limits(
        queue_size=queue_size,
        max_subscriptions=max_subscriptions,
        auth_timeout=auth_timeout,
        gap_timeout=gap_timeout,
    )

    async def endpoint(websocket: WebSocket) -> None:
        await _Connection(engine, websocket, limits).serve(authenticate)

    return WebSocketRoute("/ws", endpoint, name="websocket")


# -- requests ----------------------------------------------------------------------------------


def _error_payload(code: str, message: str, details: list[dict[str, str]] | None = None) -> Message:
    return {"code": code, "message": message, "details": details or []}


def _bearer_token(header: str) -> str | None:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


# -- connections -------------------------------------------------------------------------------


@attrs.define(eq=False)
class _Feed:
    """One execution's events to this client: what was sent last, and what waits for a gap."""

    execution_id: str
    last_sent: int
    held: list[Message] | None = None
    """Live events waiting for storage to supply the ones before them; None when not filling."""
    active: bool = True


class _Connection:
    """One client: its subscriptions, its bounded event queue and its feeds."""

    def __init__(self, engine: Engine, websocket: WebSocket, limits: _Limits) -> None:
        self.engine = engine
        self.websocket = websocket
        self.limits = limits
        self.replays = engine.storage.durable  # only durable storage keeps events
        self.subscriptions: dict[tuple[str, str | None], Subscription] = {}
        self.feeds: dict[str, _Feed] = {}
        self.overflowed = anyio.Event()
        self._send_lock = anyio.Lock()
        self._queue_in, self._queue_out = anyio.create_memory_object_stream[Event](
            limits.queue_size
        )
        self._last_queued: Event | None = None
        self._task_group: TaskGroup | None = None

    async def serve(self, authenticate: Authenticate | None) -> None:
        await self.websocket.accept()
        try:
            if await self._authenticated(authenticate):
                await self._run()
        except WebSocketDisconnect:
            pass
        finally:
            self._unsubscribe_all()
        if self.overflowed.is_set():
            await self._close_for_overflow()

    async def _run(self) -> None:
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            task_group.start_soon(self._until_done, self._read_requests)
            task_group.start_soon(self._until_done, self._forward_events)
            task_group.start_soon(self._until_done, self.overflowed.wait)

    async def _until_done(self, work: Callable[[], Any]) -> None:
        """Run ``work``; when it ends (the client left, the queue overflowed) everything ends."""
        assert self._task_group is not None
        try:
            await work()
        except WebSocketDisconnect:
            pass
        finally:
            self._task_group.cancel_scope.cancel()

    async def send(self, message: Message) -> None:
        # One writer at a time: the forwarder, replays and replies share the socket.
        text = dump(message)
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def send_error(self, code: str, message: str, details: list[Any] | None = None) -> None:
        await self.send({"type": "error", "payload": _error_payload(code, message, details)})

    # -- auth ------------------------------------------------------------------------------

    async def _authenticated(self, authenticate: Authenticate | None) -> bool:
        if authenticate is None:
            return True
        header = self.websocket.headers.get("authorization")
        token = _bearer_token(header) if header is not None else await self._first_token()
        user = authenticate(token) if token else None
        if user is None:
            await self.send_error("UNAUTHORIZED", "a valid API key is required")
            await self.websocket.close(CLOSE_UNAUTHORIZED)
            return False
        if header is None:
            await self.send({"type": "authenticated", "payload": {"userId": user}})
        return True

    async def _first_token(self) -> str | None:
        """The token of an ``auth`` first message, if one comes within the auth timeout."""
        with anyio.move_on_after(self.limits.auth_timeout):
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            try:
                request = parse_request(message.get("text", message.get("bytes")))
            except WorkflowValidationError:
                return None
            return request.token if request.type == "auth" else None
        return None

    # -- requests --------------------------------------------------------------------------

    async def _read_requests(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                request = parse_request(message.get("text", message.get("bytes")))
            except WorkflowValidationError as bad:
                await self.send({"type": "error", "payload": bad.to_dict()})
                continue
            await self._answer(request)

    async def _answer(self, request: Request) -> None:
        if request.type == "ping":
            await self.send({"type": "pong", "payload": {}})
        elif request.type == "auth":
            # Already authenticated (or auth is off): nothing changes.
            await self.send({"type": "authenticated", "payload": {}})
        elif request.type == "unsubscribe":
            self._drop(request.key)
            await self.send({"type": "unsubscribed", "payload": request.described()})
        else:
            await self._subscribe(request)

    async def _subscribe(self, request: Request) -> None:
        key = request.key
        limit = self.limits.max_subscriptions
        if key not in self.subscriptions and len(self.subscriptions) >= limit:
            detail = {"field": "channel", "message": f"at most {limit} subscriptions"}
            await self.send_error("VALIDATION_ERROR", "too many subscriptions", [detail])
            return
        if request.channel == "execution":
            await self._subscribe_execution(request)
            return
        self._drop(key)
        await self.send({"type": "subscribed", "payload": request.described()})
        workflow_id = request.target
        callback = self._queue if workflow_id is None else self._queue_for_workflow(workflow_id)
        self.subscriptions[key] = self.engine.subscribe(callback, inline=True)

    async def _subscribe_execution(self, request: Request) -> None:
        execution_id, after = request.target, request.after_sequence
        assert execution_id is not None and after is not None
        try:
            await self.engine.get_execution(execution_id)
        except ExecutionNotFoundError as missing:
            await self.send_error(missing.code, missing.message)
            return
        self._drop(request.key)
        # Held from the start: live events wait until the replay from storage has been sent.
        feed = _Feed(execution_id, after, held=[] if self.replays else None)
        self.feeds[execution_id] = feed
        ack = {**request.described(), "afterSequence": after, "replay": self.replays}
        await self.send({"type": "subscribed", "payload": ack})
        self.subscriptions[request.key] = self.engine.subscribe(
            self._queue, execution_id=execution_id, inline=True
        )
        if self.replays:
            self._start_fill(feed)

    def _drop(self, key: tuple[str, str | None]) -> None:
        subscription = self.subscriptions.pop(key, None)
        if subscription is not None:
            subscription.unsubscribe()
        if key[0] == "execution" and key[1] is not None:
            feed = self.feeds.pop(key[1], None)
            if feed is not None:
                feed.active = False

    def _unsubscribe_all(self) -> None:
        for key in list(self.subscriptions):
            self._drop(key)
        self._queue_in.close()
        self._queue_out.close()

    # -- live events -----------------------------------------------------------------------

    def _queue(self, event: Event) -> None:
        """Inline subscriber: never waits, so the execution never waits for this client."""
        # Overlapping subscriptions (all + execution) get the same event object one after
        # the other during one publish: queue it once.
        if event is self._last_queued or self.overflowed.is_set():
            return
        self._last_queued = event
        try:
            self._queue_in.send_nowait(event)
        except anyio.WouldBlock:
            self.overflowed.set()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass  # the connection is closing

    def _queue_for_workflow(self, workflow_id: str) -> Callable[[Event], None]:
        def queue_if_workflow(event: Event) -> None:
            if event.workflow_id == workflow_id:
                self._queue(event)

        return queue_if_workflow

    async def _forward_events(self) -> None:
        async with self._queue_out:
            async for event in self._queue_out:
                feed = self.feeds.get(event.execution_id)
                if feed is None:
                    await self.send(event.to_dict())
                else:
                    await self._feed_live(feed, event.to_dict())

    async def _feed_live(self, feed: _Feed, data: Message) -> None:
        sequence = data["sequence"]
        if sequence <= feed.last_sent:
            return  # replayed from storage already
        if feed.held is not None:
            self._hold(feed, data)
        elif sequence == feed.last_sent + 1 or not self.replays:
            feed.last_sent = sequence
            await self.send(data)
        else:
            feed.held = [data]
            self._start_fill(feed)

    def _hold(self, feed: _Feed, data: Message) -> None:
        assert feed.held is not None
        if len(feed.held) >= self.limits.queue_size:
            self.overflowed.set()  # held events count against the same bound as queued ones
        else:
            feed.held.append(data)

    # -- replay ----------------------------------------------------------------------------

    def _start_fill(self, feed: _Feed) -> None:
        assert self._task_group is not None
        self._task_group.start_soon(self._run_fill, feed)

    async def _run_fill(self, feed: _Feed) -> None:
        """A fill that cannot send ends the connection; one that finishes ends only itself."""
        assert self._task_group is not None
        try:
            await self._fill(feed)
        except WebSocketDisconnect:
            self._task_group.cancel_scope.cancel()

    async def _fill(self, feed: _Feed) -> None:
        """Send what storage has after ``feed.last_sent``, then the held live events, polling
        storage while a gap remains (events published but not yet written) until
        ``gap_timeout``; after that the client gets the held events with the gap."""
        deadline = anyio.current_time() + self.limits.gap_timeout
        delay = 0.01
        while feed.active:
            stored = await self.engine.storage.list_events(
                feed.execution_id, after_sequence=feed.last_sent
            )
            for event in stored:
                await self._send_next(feed, event.data)
            if await self._flush_held(feed):
                return
            if anyio.current_time() >= deadline:
                self._skip_gap(feed)
                continue
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _send_next(self, feed: _Feed, data: Message) -> None:
        if feed.active and data["sequence"] > feed.last_sent:
            feed.last_sent = data["sequence"]
            await self.send(data)

    async def _flush_held(self, feed: _Feed) -> bool:
        """Send held events that follow the last one sent; True when none is held any more
        (live events then go straight out again)."""
        held = feed.held
        assert held is not None
        while held and feed.active:
            if held[0]["sequence"] > feed.last_sent + 1:
                return False
            await self._send_next(feed, held.pop(0))
        # No await between the emptiness check and this: no live event can slip in between.
        feed.held = None
        return True

    def _skip_gap(self, feed: _Feed) -> None:
        """Give up on events storage never supplied (the sequence jump tells the client)."""
        if feed.held:
            feed.last_sent = feed.held[0]["sequence"] - 1

    async def _close_for_overflow(self) -> None:
        # The client is not reading: do not let it hold this task for long either.
        limit = self.limits.queue_size
        with anyio.move_on_after(1.0), contextlib.suppress(WebSocketDisconnect):
            await self.send_error("OVERFLOW", f"more than {limit} events waiting: reconnect")
            await self.websocket.close(CLOSE_OVERFLOW)
