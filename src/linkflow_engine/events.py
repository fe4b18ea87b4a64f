"""Events: every state change of an execution, as frozen classes with the wire names of the spec.

Wire form: ``{type, executionId, workflowId, sequence, timestamp, payload}``. ``sequence`` counts
from 1 per execution without gaps, so a client that reconnects asks for what came after the last
one it saw. Subscribers are called on the event loop after the state change is recorded; a slow or
raising subscriber never slows or breaks the execution (each subscription has its own bounded
queue and task).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import anyio
import attrs
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .runtime._records import NodeExecution, format_timestamp

__all__ = [
    "EVENT_TYPES",
    "RUN_PAYLOADS",
    "Event",
    "EventBroker",
    "EventRecord",
    "ExecutionCancelled",
    "ExecutionCompleted",
    "ExecutionFailed",
    "ExecutionLogged",
    "ExecutionPaused",
    "ExecutionResumed",
    "ExecutionStarted",
    "LocalEventBroker",
    "NodeCompleted",
    "NodeFailed",
    "NodeSkipped",
    "NodeStarted",
    "Subscription",
    "wire_form",
]

logger = logging.getLogger("linkflow_engine.events")


@attrs.frozen(kw_only=True)
class Event:
    """Base of every event; ``type`` is the wire name. The kinds below are plain subclasses
    (``__slots__ = ()``) that only set ``type``: as attrs classes of their own, their generated
    methods cost ~1 ms each at import."""

    type: ClassVar[str] = "event"
    execution_id: str
    workflow_id: str | None
    sequence: int
    timestamp: float
    payload: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return wire_form(self.record(), self.execution_id, self.workflow_id)

    def record(self) -> EventRecord:
        """The event as storage keeps it."""
        return (self.type, self.sequence, self.timestamp, self.payload)


EventRecord = tuple[str, int, float, dict[str, Any] | int]
"""An event as storage keeps it: ``(type, sequence, timestamp, payload)``. The ids of its
execution and workflow are the execution's own, so they are not repeated; a run keeps its events
for storage in this form and builds :class:`Event` objects only for those who listen.

An event made from a node run alone (a type of :data:`RUN_PAYLOADS`) keeps, in place of its
payload, the sequence number of that run: storage keeps the run anyway, and :func:`wire_form`
makes the payload from it again. (Making those payloads, which repeat the run's output, and
storing them cost about a twentieth of a durable node's time.)"""


def wire_form(
    record: EventRecord | Sequence[Any],
    execution_id: str,
    workflow_id: str | None,
    runs: Mapping[int, NodeExecution] | None = None,
) -> dict[str, Any]:
    """The wire form of a kept event: ``{type, executionId, workflowId, sequence, timestamp,
    payload}``, the same as its :meth:`Event.to_dict`. ``runs``: the execution's node runs by
    sequence, for the events made from one (KeyError when that run is not among them)."""
    kind, sequence, timestamp, payload = record
    if type(payload) is int:
        payload = RUN_PAYLOADS[kind]((runs or {})[payload])
    return {
        "type": kind,
        "executionId": execution_id,
        "workflowId": workflow_id,
        "sequence": sequence,
        "timestamp": format_timestamp(timestamp),
        "payload": payload,
    }


class ExecutionStarted(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.started"


class NodeStarted(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.node.started"


class NodeCompleted(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.node.completed"


class NodeFailed(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.node.failed"


class NodeSkipped(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.node.skipped"


class ExecutionCompleted(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.completed"


class ExecutionFailed(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.failed"


class ExecutionCancelled(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.cancelled"


class ExecutionPaused(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.paused"


class ExecutionResumed(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.resumed"


class ExecutionLogged(Event):
    __slots__ = ()
    type: ClassVar[str] = "execution.log"


def _started(run: NodeExecution) -> dict[str, Any]:
    return {"nodeId": run.node_id, "nodeName": run.node_name}


def _completed(run: NodeExecution) -> dict[str, Any]:
    return {
        "nodeId": run.node_id,
        "nodeName": run.node_name,
        "port": run.port,
        "output": run.output,
        "duration": run.duration,
    }


RUN_PAYLOADS: dict[str, Callable[[NodeExecution], dict[str, Any]]] = {
    NodeStarted.type: _started,
    NodeCompleted.type: _completed,
}
"""The payload of each kind of event made from a node run alone, from that run: the same function
when the event is published and when a stored one is read (see :data:`EventRecord`)."""

EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        ExecutionStarted,
        NodeStarted,
        NodeCompleted,
        NodeFailed,
        NodeSkipped,
        ExecutionCompleted,
        ExecutionFailed,
        ExecutionCancelled,
        ExecutionPaused,
        ExecutionResumed,
        ExecutionLogged,
    )
}
"""Every event class by its wire name."""

Callback = Callable[[Event], Awaitable[None] | None]


def _type_names(types: Iterable[str | type[Event]] | None) -> frozenset[str] | None:
    if types is None:
        return None
    names = set()
    for kind in types:
        name = kind if isinstance(kind, str) else kind.type
        if name not in EVENT_TYPES:
            raise ValueError(f"unknown event type {name!r}; known: {sorted(EVENT_TYPES)}")
        names.add(name)
    return frozenset(names)


@attrs.define(eq=False)
class Subscription:
    """A callback with its filters; a context manager that unsubscribes on exit."""

    callback: Callback
    types: frozenset[str] | None
    execution_id: str | None
    broker: LocalEventBroker
    inline: bool = False
    _send: MemoryObjectSendStream[Event] | None = None
    dropped: int = 0

    def wants(self, event: Event) -> bool:
        return (self.types is None or event.type in self.types) and (
            self.execution_id is None or event.execution_id == self.execution_id
        )

    def unsubscribe(self) -> None:
        self.broker.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()


class EventBroker:
    """What carries events from executions to subscribers (protocol; see LocalEventBroker)."""

    idle: bool = True
    """True while nobody subscribes: the executor then builds no event at all."""

    def subscribe(
        self,
        callback: Callback,
        *,
        types: Iterable[str | type[Event]] | None = None,
        execution_id: str | None = None,
        inline: bool = False,
    ) -> Subscription:
        raise NotImplementedError

    def publish(self, event: Event) -> None:
        raise NotImplementedError

    def has_subscribers(self, execution_id: str) -> bool:
        raise NotImplementedError


class LocalEventBroker(EventBroker):
    """Delivers events to subscribers of this process.

    Each subscription gets a bounded queue drained by its own task in the broker's task group
    (started by the engine); ``publish`` never waits: when a subscriber's queue is full the event
    is dropped for that subscriber only and counted in ``subscription.dropped``. Without a task
    group (no running engine) callbacks are called inline and their errors logged.
    """

    queue_size = 1000

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []
        self._task_group: TaskGroup | None = None

    def attach(self, task_group: TaskGroup | None) -> None:
        """Deliver through tasks of ``task_group`` from now on (None: inline)."""
        self._task_group = task_group
        if task_group is not None:
            for sub in self._subscriptions:
                self._start_delivery(sub)

    def close_deliveries(self) -> None:
        """Stop the delivery tasks once their queues are drained; deliver inline after that."""
        self._task_group = None
        for sub in self._subscriptions:
            if sub._send is not None:
                sub._send.close()
                sub._send = None

    def subscribe(
        self,
        callback: Callback,
        *,
        types: Iterable[str | type[Event]] | None = None,
        execution_id: str | None = None,
        inline: bool = False,
    ) -> Subscription:
        if inline and inspect.iscoroutinefunction(callback):
            raise TypeError("an inline subscriber must be a plain function, not async")
        sub = Subscription(callback, _type_names(types), execution_id, self, inline)
        self._subscriptions.append(sub)
        self.idle = False
        if self._task_group is not None and not inline:
            self._start_delivery(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subscriptions:
            self._subscriptions.remove(sub)
        self.idle = not self._subscriptions
        if sub._send is not None:
            sub._send.close()
            sub._send = None

    def has_subscribers(self, execution_id: str) -> bool:
        return any(s.execution_id in (None, execution_id) for s in self._subscriptions)

    def publish(self, event: Event) -> None:
        for sub in self._subscriptions:
            if not sub.wants(event):
                continue
            if sub._send is None:
                _call_inline(sub, event)
                continue
            try:
                sub._send.send_nowait(event)
            except anyio.WouldBlock:
                sub.dropped += 1
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass

    def _start_delivery(self, sub: Subscription) -> None:
        assert self._task_group is not None
        if sub._send is not None or sub.inline:
            return
        send, receive = anyio.create_memory_object_stream[Event](self.queue_size)
        sub._send = send
        self._task_group.start_soon(_deliver, sub, receive)


def _call_inline(sub: Subscription, event: Event) -> None:
    try:
        result = sub.callback(event)
        if inspect.iscoroutine(result):
            result.close()  # async, but no running engine delivers to it
            logger.warning("async event subscriber %r skipped: no running engine", sub.callback)
    except Exception:
        logger.exception("event subscriber %r failed", sub.callback)


async def _deliver(sub: Subscription, receive: MemoryObjectReceiveStream[Event]) -> None:
    async with receive:
        async for event in receive:
            try:
                result = sub.callback(event)
                if result is not None:
                    await result
            except Exception:
                logger.exception("event subscriber %r failed", sub.callback)
