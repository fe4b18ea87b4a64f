"""A walk: running a set of nodes of one execution in dependency order.

The main walk covers the whole graph but the branch bodies; each ``loop`` iteration is a walk of
its own over the body. A walk counts, for every node, the incoming connections not yet settled;
when the count reaches zero the node runs if some connection delivered a value, and is skipped
otherwise (and the skip flows on).

Scheduling avoids a task per node: a worker runs a node, then the next ready one itself, and
starts another worker only when several nodes are ready at once, up to ``maxConcurrency`` (the
run's slots, see :mod:`._slots`, bound the nodes running across all its walks). A
chain therefore runs in one task, with no spawn and no thread hop.

The main walk also tells, as a node settles, whether it is the last to run (no other node is
running, ready or yet to start): its run is then stored by the execution's end, in the same
commit, instead of a commit of its own.
"""

from __future__ import annotations

from collections import ChainMap, deque
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from .._exceptions import NodeError
from ..graph import Connection, canonical_port
from ._records import NodeExecution, NodeStatus

if TYPE_CHECKING:
    from ._node_steps import NodeSteps

__all__ = ["Arrival", "Walk"]

Arrival = tuple[Connection | None, Any]
"""An input reaching a node: the connection it came by (None for a start node) and the value."""


class Walk:
    """Runs ``scope`` (node ids) from ``starts`` until every node in it has settled."""

    def __init__(
        self,
        run: NodeSteps,
        *,
        scope: frozenset[str],
        starts: Iterable[tuple[str, Any]],
        settled: Mapping[str, dict[str, Any]] | None = None,
        iteration: int | None = None,
        variables: Mapping[str, Any] | None = None,
        parent: Walk | None = None,
    ) -> None:
        self.run = run
        self.plan = run.plan
        self.scope = scope
        self.iteration = iteration
        self.variables: Mapping[str, Any] = variables or {}
        self.named: ChainMap[str, Any] = (
            parent.named.new_child() if parent is not None else ChainMap({}, run.prior_outputs)
        )
        self.leaf_outputs: dict[str, Any] = {}
        self.records: dict[str, NodeExecution] = {}
        """This walk's run of each node (a loop body's nodes run once per iteration walk)."""
        self._waiting: dict[str, int] = {}
        self._arrived: dict[str, list[Arrival]] = {}
        self._started: set[str] = set()
        self._unstarted = 0
        """Nodes of ``_waiting`` not started (nor skipped) yet."""
        self._main = parent is None
        self._ready: deque[tuple[str, list[Arrival]]] = deque()
        self._workers = 0
        self._limit = max(1, run.plan.workflow.settings.max_concurrency)
        self._task_group: TaskGroup | None = None
        self._prepare(list(starts), settled or {})

    # -- set-up ----------------------------------------------------------------------------

    def _prepare(
        self, starts: list[tuple[str, Any]], settled: Mapping[str, dict[str, Any]]
    ) -> None:
        # A start that already settled (resuming after it ran) does not run again.
        starts = [start for start in starts if start[0] not in settled]
        start_ids = {node_id for node_id, _ in starts}
        live = self.plan.reachable_from(frozenset([*start_ids, *settled])) & self.scope
        for node_id in live - start_ids - settled.keys():
            self._waiting[node_id] = sum(
                1 for conn in self.plan.incoming(node_id) if self._counts(conn, live)
            )
        self._unstarted = len(self._waiting)
        self._started.update(start_ids, settled.keys())
        for node_id in self.plan.order:
            if node_id in self.scope and node_id not in live and node_id not in self.plan.owner_of:
                self.run.record_skipped(node_id, self.iteration)
        for node_id, emitted in settled.items():
            self._settle(node_id, emitted)
        self._ready.extend((node_id, [(None, value)]) for node_id, value in starts)

    def _counts(self, conn: Connection, live: frozenset[str]) -> bool:
        if conn.source not in live:
            return False
        body = self.plan.owner_of.get(conn.target)
        # A branch port's connections are driven by its owner, not by this walk.
        return not (body is not None and body.owner == conn.source)

    # -- running ---------------------------------------------------------------------------

    async def run_to_end(self) -> None:
        if not self._ready:
            return
        async with anyio.create_task_group() as task_group:
            self._task_group = task_group
            first = self._ready.popleft()
            self._workers = 1
            self._spawn_workers()
            await self._worker(first)

    def _spawn_workers(self) -> None:
        assert self._task_group is not None
        while self._ready and self._workers < self._limit:
            self._workers += 1
            self._task_group.start_soon(self._worker, self._ready.popleft())

    async def _worker(self, item: tuple[str, list[Arrival]]) -> None:
        current: tuple[str, list[Arrival]] | None = item
        try:
            while current is not None:
                node_id, arrivals = current
                emitted = await self.run.run_node(self, node_id, arrivals)
                if self.run.stop_code is not None:
                    return  # stopping: nothing more starts, and what did not run stays pending
                self._settle(node_id, emitted)
                current = self._ready.popleft() if self._ready else None
                self._spawn_workers()
        finally:
            self._workers -= 1

    def ends_with_this_node(self) -> bool:
        """Called by the node settling now: True when this is the main walk and nothing runs
        after that node (no other worker, nothing ready, every node started)."""
        return self._main and self._workers == 1 and not self._ready and not self._unstarted

    # -- routing ---------------------------------------------------------------------------

    def _settle(self, node_id: str, emitted: dict[str, Any] | None) -> None:
        """``node_id`` is done (``emitted`` None when it delivered nothing): tell its targets."""
        any_active = False
        for conn in self.plan.outgoing(node_id):
            target = conn.target
            if target not in self._waiting:
                continue
            value = self._delivered(conn, emitted)
            if value is not _NOTHING:
                any_active = True
                self._arrived.setdefault(target, []).append((conn, value))
                if target not in self._started and not self.plan.waits_for_all[target]:
                    self._start(target)
            self._waiting[target] -= 1
            if self._waiting[target] == 0 and target not in self._started:
                if target in self._arrived:
                    self._start(target)
                else:
                    self._started.add(target)
                    self._unstarted -= 1
                    self.run.record_skipped(target, self.iteration)
                    self._settle(target, None)
        if emitted and not any_active:
            self._collect_leaf(node_id, emitted)

    def _delivered(self, conn: Connection, emitted: dict[str, Any] | None) -> Any:
        if not emitted:
            return _NOTHING
        port = conn.source_port
        if port not in emitted:
            port = canonical_port(port)
            if port not in emitted:
                return _NOTHING
        value = emitted[port]
        condition = self.plan.conditions.get(id(conn))
        if condition is not None and not self.run.condition_holds(self, conn, condition, value):
            return _NOTHING
        return value

    def _start(self, node_id: str) -> None:
        self._started.add(node_id)
        self._unstarted -= 1
        self._ready.append((node_id, self._arrived.pop(node_id, [])))

    def _collect_leaf(self, node_id: str, emitted: dict[str, Any]) -> None:
        record = self.records.get(node_id)
        if record is not None and record.status is NodeStatus.COMPLETED and not record.reused:
            self.leaf_outputs[node_id] = record.output

    def result(self) -> Any:
        """What an iteration returns: its one leaf output, or leaf outputs by node name."""
        if len(self.leaf_outputs) == 1:
            return next(iter(self.leaf_outputs.values()))
        nodes = self.plan.graph.nodes
        return {nodes[node_id].name: value for node_id, value in self.leaf_outputs.items()} or None


class _Nothing:
    __slots__ = ()


_NOTHING: Any = _Nothing()


def join_inputs(
    node_name: str,
    accepts_many: bool,
    arrivals: list[Arrival],
    position: Mapping[int, int],
    names: Mapping[str, str],
) -> tuple[Any, dict[str, Any]]:
    """The ``$input`` and ``ctx.inputs`` of a node from what arrived.

    ``ctx.inputs`` follows connection order; so does the shallow merge of a join. A node that
    accepts many inputs gets them as a list in the order they arrived instead.
    """
    if len(arrivals) == 1 and not accepts_many:
        conn, value = arrivals[0]
        return value, ({names[conn.source]: value} if conn is not None else {})
    ordered = sorted(arrivals, key=lambda a: position.get(id(a[0]), -1))
    inputs = {names[conn.source]: value for conn, value in ordered if conn is not None}
    if accepts_many:
        return [value for _, value in arrivals], inputs
    merged: dict[str, Any] = {}
    for conn, value in ordered:
        if not isinstance(value, dict):
            source = names[conn.source] if conn is not None else "start"
            raise NodeError(
                f"node {node_name!r} joins several inputs, but the one from {source!r} is not"
                " an object; put a merge node before it",
                details={"source": source, "type": type(value).__name__},
            )
        merged.update(value)
    return merged, inputs
