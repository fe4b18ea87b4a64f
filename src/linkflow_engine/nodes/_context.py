"""What a node handler sees: :class:`NodeContext`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

if TYPE_CHECKING:
    import httpx

    from ..credentials import Credential
    from ..graph import Node, Workflow
    from ..outbound import OutboundPolicy

__all__ = ["ExecutionInfo", "NodeContext", "NodeServices"]


@attrs.frozen(kw_only=True)
class ExecutionInfo:
    """The execution a node runs in."""

    id: str
    mode: str
    workflow: Workflow
    triggered_by: str | None = None
    input_data: Any = None


class NodeServices(Protocol):
    """What the executor provides behind a context (implemented by the runtime)."""

    def log(self, node: Node, level: str, message: str, data: dict[str, Any]) -> None: ...

    def http_client(self) -> httpx.AsyncClient: ...

    async def credentials(self, node: Node, credential_id: str) -> dict[str, Any]: ...

    async def credential(
        self,
        node: Node,
        credential_id: str | None = None,
        types: Sequence[str] | None = None,
        *,
        refresh: bool = False,
    ) -> Credential: ...

    def outbound_policy(self) -> OutboundPolicy: ...

    async def sleep(self, seconds: float, run: Any = None) -> None: ...

    def evaluate(self, expression: str, scope: Mapping[str, Any]) -> Any: ...

    def scope_for(self, frame: Any, node: Node, value: Any) -> Mapping[str, Any]: ...

    async def run_branch(
        self, frame: Any, node: Node, port: str, items: Sequence[Any], *, parallel: bool
    ) -> list[Any]: ...


class NodeContext:
    """The input, resolved config and services of one node run.

    - ``input``: the node's ``$input`` (the shallow merge of several inputs for a join);
      ``inputs``: every input value keyed by the source node's name.
    - ``config``: the node's config with every ``{{ }}`` expression resolved.
    - ``emit(port, value)``: send ``value`` on ``port``; without it, the handler's return value
      goes out on the first output port.
    """

    __slots__ = (
        "_emitted",
        "_frame",
        "_run",
        "_scope",
        "_services",
        "config",
        "execution",
        "input",
        "inputs",
        "node",
        "static_data",
    )

    def __init__(
        self,
        *,
        node: Node,
        input: Any,
        inputs: Mapping[str, Any],
        config: Mapping[str, Any],
        execution: ExecutionInfo,
        static_data: dict[str, Any],
        services: NodeServices,
        scope: Mapping[str, Any] | None = None,
        frame: Any = None,
        run: Any = None,
    ) -> None:
        self.node = node
        self.input = input
        self.inputs = inputs
        self.config = config
        self.execution = execution
        self.static_data = static_data
        self._services = services
        self._scope = scope
        self._frame = frame  # the executor's walk this run belongs to (opaque to handlers)
        self._run = run  # the executor's record of this node run (opaque to handlers)
        self._emitted: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"NodeContext(node={self.node.id!r}, execution={self.execution.id!r})"

    @property
    def emitted(self) -> dict[str, Any] | None:
        """What the handler emitted so far, by port (None when it emitted nothing)."""
        return self._emitted

    def emit(self, port: str, value: Any) -> None:
        """Send ``value`` on output ``port`` (once per port; the last value wins)."""
        if self._emitted is None:
            self._emitted = {}
        self._emitted[port] = value

    def emit_nothing(self) -> None:
        """Emit on no port: every node after this one is skipped (unless fed otherwise)."""
        if self._emitted is None:
            self._emitted = {}

    def log(self, level: str, message: str, **data: Any) -> None:
        """Add a line to the execution's log, attributed to this node."""
        self._services.log(self.node, level, message, data)

    @property
    def http(self) -> httpx.AsyncClient:
        """The engine's shared HTTP client (connection pooling; closed with the engine). It
        connects only to addresses the outbound policy allows, checked when connecting."""
        return self._services.http_client()

    async def credentials(self, credential_id: str) -> dict[str, Any]:
        """The decrypted data of this node's credential (``config.credential``); CredentialError
        when it is missing, undecryptable, or ``credential_id`` is another one."""
        return await self._services.credentials(self.node, credential_id)

    async def credential(
        self,
        credential_id: str | None = None,
        *,
        types: Sequence[str] | None = None,
        refresh: bool = False,
    ) -> Credential:
        """This node's credential (id, name, type, data); CredentialError as for
        :meth:`credentials`, and when its type is not one of ``types``. ``refresh=True``
        drops a cached OAuth2 access token first (the API answered 401 with it)."""
        return await self._services.credential(self.node, credential_id, types, refresh=refresh)

    @property
    def outbound(self) -> OutboundPolicy:
        """The engine's outbound policy. :attr:`http` holds every connection to it anyway;
        ``await ctx.outbound.check(url)`` before a request (and each redirect hop) to a URL a
        workflow chose fails early, with a clear reason, before anything is prepared."""
        return self._services.outbound_policy()

    async def sleep(self, seconds: float) -> None:
        """Wait on the engine's clock (a virtual clock in tests makes this instant).

        On durable storage a sleep of a second or more is durable: its end is stored before
        it begins, so when the execution is taken up again after a crash, the node's sleeps
        (in the order it begins them) end when they were due to, instead of starting over."""
        await self._services.sleep(seconds, self._run)

    def evaluate(self, expression: str, **variables: Any) -> Any:
        """Evaluate a bare expression (no braces) in this node's scope plus ``variables``
        (names without ``$`` are bound as written, e.g. ``item``)."""
        if self._scope is None:
            self._scope = self._services.scope_for(self._frame, self.node, self.input)
        scope = {**self._scope, **variables} if variables else self._scope
        return self._services.evaluate(expression, scope)

    async def run_branch(
        self, port: str, items: Sequence[Any], *, parallel: bool = False
    ) -> list[Any]:
        """Run the part of the graph reachable only through ``port`` once per item (the
        node type must list ``port`` in ``branch_ports``); returns each run's result: the
        output of its last node (or a dict by node name when it has several)."""
        return await self._services.run_branch(
            self._frame, self.node, port, items, parallel=parallel
        )
