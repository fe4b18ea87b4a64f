"""Taking over executions left by an engine that closed: each once, each on its own, with the
state it had (reused runs, a debug pause)."""

from __future__ import annotations

import time
from typing import Any

import anyio
from durable_storages import StorageFactory, Wrapped

from builders import chain, conn, node, workflow
from linkflow_engine import Engine, ExecutionStatus, NodeRegistry, StorageError
from linkflow_engine.storage.base import Lease, Storage


class ClaimsMeet(Wrapped):
    """A storage whose lease claims wait (up to half a second) for a second one, so that two
    take-overs racing in one engine claim side by side, whatever the timing."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.claims = 0

    async def acquire_lease(self, execution_id: str, **terms: Any) -> Lease | None:
        self.claims += 1
        with anyio.move_on_after(0.5):
            while self.claims < 2:
                await anyio.sleep(0.01)
        return await self.inner.acquire_lease(execution_id, **terms)


class SlowClaims(Wrapped):
    """A storage that grants each lease claim ``delay`` seconds after it was asked (the
    database's write lock held elsewhere meanwhile), counting the lease from the asking."""

    def __init__(self, inner: Storage, delay: float) -> None:
        super().__init__(inner)
        self.delay = delay

    async def acquire_lease(self, execution_id: str, **terms: Any) -> Lease | None:
        await anyio.sleep(self.delay)
        return await self.inner.acquire_lease(execution_id, **terms)


class SlowCreations(Wrapped):
    """A storage that creates each execution ``delay`` seconds after it was asked (the
    database's write lock held elsewhere meanwhile), its lease counted from the asking."""

    def __init__(self, inner: Storage, delay: float) -> None:
        super().__init__(inner)
        self.delay = delay

    async def create_execution(self, execution: Any, **terms: Any) -> Lease | None:
        await anyio.sleep(self.delay)
        return await self.inner.create_execution(execution, **terms)


def napping(calls: list[str], name: str = "nap", seconds: float = 0.6) -> NodeRegistry:
    """A registry whose ``name`` node notes each run and takes ``seconds``."""
    registry = NodeRegistry()

    @registry.register(name)
    async def nap(ctx: Any) -> dict[str, Any]:
        calls.append(ctx.execution.id)
        await anyio.sleep(seconds)
        return {"napped": True}

    return registry


async def until_status(engine: Engine, execution_id: str, status: ExecutionStatus) -> None:
    with anyio.fail_after(10):  # liveness bound
        while (await engine.storage.get_status(execution_id)) is not status:
            await anyio.sleep(0.02)


async def left_running(
    make_shared_storage: StorageFactory, registry: NodeRegistry, document: dict[str, Any]
) -> str:
    """An execution whose engine closed while its node ran: running, resumable."""
    async with Engine(make_shared_storage(), registry) as first:
        execution = await first.execute(document, wait=False)
        await anyio.sleep(0.2)
    return execution.id


async def test_two_recoveries_at_once_take_an_execution_over_once(
    make_shared_storage: StorageFactory,
) -> None:
    """recover() beside another recover() (the keeper's, say) takes the execution once: its
    node runs again once, not twice side by side (both claimed the lease, which its owner
    may claim again, and ran it; seen on PostgreSQL, whose calls yield)."""
    calls: list[str] = []
    registry = napping(calls)
    execution_id = await left_running(make_shared_storage, registry, chain(node("n", "nap")))
    async with Engine(ClaimsMeet(make_shared_storage()), registry, recover=False) as second:
        taken: list[list[str]] = [[], []]

        async def recover(index: int) -> None:
            taken[index] = await second.recover()

        async with anyio.create_task_group() as group:
            group.start_soon(recover, 0)
            group.start_soon(recover, 1)
        await until_status(second, execution_id, ExecutionStatus.COMPLETED)
    assert sorted(taken) == [[], [execution_id]]
    assert calls == [execution_id, execution_id]  # the interrupted run, then one more


async def test_a_resume_beside_a_recovery_runs_the_paused_node_once(
    make_shared_storage: StorageFactory,
) -> None:
    """resume() of a paused execution nobody holds, while recover() takes it over, runs the
    node after the pause once."""
    calls: list[str] = []
    registry = napping(calls, seconds=0.1)
    async with Engine(make_shared_storage(), registry) as first:
        execution = await first.execute(
            chain(node("n", "nap")), debug=True, breakpoints=["n"], wait=False
        )
        await until_status(first, execution.id, ExecutionStatus.PAUSED)
    async with Engine(ClaimsMeet(make_shared_storage()), registry, recover=False) as second:
        async with anyio.create_task_group() as group:
            group.start_soon(second.recover)
            group.start_soon(second.resume, execution.id)
        await until_status(second, execution.id, ExecutionStatus.COMPLETED)
    assert calls == [execution.id]


async def test_an_execution_this_engine_cannot_run_does_not_stop_the_others(
    make_shared_storage: StorageFactory,
) -> None:
    """An engine lacking a node type an orphan uses still starts, takes over the other
    orphans, and releases the one it cannot run (an engine with the type runs it at once);
    before, its start failed and every later orphan stayed running."""
    calls: list[str] = []
    with_plugin = napping(calls, name="plugin_nap")
    plugin_run = await left_running(
        make_shared_storage, with_plugin, chain(node("p", "plugin_nap"))
    )
    plain_run = await left_running(
        make_shared_storage,
        NodeRegistry(),
        chain(node("w", "wait", config={"duration": 0.6, "unit": "seconds"}), id="wf-plain"),
    )
    async with Engine(make_shared_storage(), NodeRegistry()) as without_plugin:
        await until_status(without_plugin, plain_run, ExecutionStatus.COMPLETED)
        assert await without_plugin.storage.get_status(plugin_run) is ExecutionStatus.RUNNING
    async with Engine(make_shared_storage(), with_plugin) as again:  # its lease was released
        await until_status(again, plugin_run, ExecutionStatus.COMPLETED)


async def test_a_replay_left_before_its_first_write_keeps_its_reused_runs(
    make_shared_storage: StorageFactory,
) -> None:
    """A retry from a node, left while that node ran (before any progress write), recovers
    with the runs it reused and ends as the uninterrupted retry does (it failed: the reused
    runs were known only to the run that was gone)."""
    calls: list[str] = []
    registry = napping(calls, seconds=0.4)
    document = chain(
        node("price", "set", config={"values": {"total": "{{ 3 * 10 }}"}, "keepOnlySet": True}),
        node("n", "nap"),
        node("ship", "set", config={"values": {"billed": "{{ $node.price.data.total }}"}}),
    )
    async with Engine(make_shared_storage(), registry) as first:
        original = await first.execute(document)
        replay = await first.retry(original.id, from_node="n", wait=False)
        await anyio.sleep(0.15)  # n runs; nothing of the replay written but its creation
    async with Engine(make_shared_storage(), registry) as second:
        await until_status(second, replay.id, ExecutionStatus.COMPLETED)
        recovered = await second.get_execution(replay.id, include_data=True)
    assert recovered.outputs["ship"]["billed"] == 30
    assert [(n.node_id, n.reused) for n in recovered.node_executions if n.reused] == [
        ("start", True),
        ("price", True),
    ]


async def test_a_stepped_execution_left_paused_pauses_again_where_it_was(
    make_shared_storage: StorageFactory,
) -> None:
    """A debug step, then the engine closes: the execution stays paused at the next node after
    recovery (it ran to its end by itself: the pause stored options without the step)."""
    document = chain(node("b", "noop"), node("c", "noop"), node("d", "noop"))
    async with Engine(make_shared_storage()) as first:
        execution = await first.execute(document, debug=True, breakpoints=["b"], wait=False)
        await until_status(first, execution.id, ExecutionStatus.PAUSED)
        await first.resume(execution.id, step=True)
        with anyio.fail_after(10):  # liveness bound
            while (await first.get_execution(execution.id)).options.get("pausedAt") != "c":
                await anyio.sleep(0.02)
    async with Engine(make_shared_storage(), lease_ttl=0.5, poll_interval=0.05) as second:
        await anyio.sleep(0.5)  # recoveries come and go
        stored = await second.get_execution(execution.id)
        assert stored.status is ExecutionStatus.PAUSED
        assert [n.node_id for n in stored.node_executions if n.status.value == "completed"] == [
            "start",
            "b",
        ]
        await second.resume(execution.id)
        await until_status(second, execution.id, ExecutionStatus.COMPLETED)


async def test_a_resume_right_after_taking_over_a_pause_goes_on_at_once(
    make_shared_storage: StorageFactory,
) -> None:
    """A resume that reaches a run taken over while paused before the run is back at its pause
    lets it go on at once (it paused again with the stored status running, until the next
    status poll, seconds later)."""
    document = chain(node("b", "noop"), node("c", "noop"))
    async with Engine(make_shared_storage()) as first:
        execution = await first.execute(document, debug=True, breakpoints=["c"], wait=False)
        await until_status(first, execution.id, ExecutionStatus.PAUSED)
    async with Engine(make_shared_storage(), recover=False, poll_interval=30) as second:
        assert await second.recover() == [execution.id]
        await second.resume(execution.id)
        with anyio.fail_after(3):  # well before a status poll
            await until_status(second, execution.id, ExecutionStatus.COMPLETED)


async def test_a_lease_granted_after_it_expired_is_renewed_before_the_run_goes_on(
    make_shared_storage: StorageFactory,
) -> None:
    """A claim that waited longer than a lease lasts is granted a lease already expired: it is
    renewed at once, so no other engine can take the execution over from the run. Before,
    another engine's recovery took it too and both ran the node."""
    calls: list[str] = []
    registry = napping(calls, seconds=0.6)
    execution_id = await left_running(make_shared_storage, registry, chain(node("n", "nap")))
    terms: dict[str, Any] = {"lease_ttl": 1.0, "poll_interval": 0.5, "recover": False}
    async with Engine(SlowClaims(make_shared_storage(), delay=1.2), registry, **terms) as slow:
        assert await slow.recover() == [execution_id]
        # Before the slow engine's next poll (which renews a lease it finds short):
        async with Engine(make_shared_storage(), registry, **terms) as other:
            assert await other.recover() == []
        await until_status(slow, execution_id, ExecutionStatus.COMPLETED)
    assert calls == [execution_id, execution_id]  # the interrupted run, then one more


async def test_an_execution_created_after_its_lease_ran_out_is_renewed_before_it_runs(
    make_shared_storage: StorageFactory,
) -> None:
    """A new execution whose creation waited longer than a lease lasts gets its lease renewed
    at once: no other engine takes it over while its first run goes on (before, another
    engine's recovery took it and both ran its node)."""
    calls: list[str] = []
    registry = napping(calls, seconds=0.6)
    terms: dict[str, Any] = {"lease_ttl": 1.0, "poll_interval": 0.5, "recover": False}
    storage = SlowCreations(make_shared_storage(), delay=1.2)
    async with Engine(storage, registry, **terms) as slow:  # type: ignore[arg-type]
        execution = await slow.execute(workflow(node("n", "nap")), wait=False)
        async with Engine(make_shared_storage(), registry, **terms) as other:
            assert await other.recover() == []
        await until_status(slow, execution.id, ExecutionStatus.COMPLETED)
    assert calls == [execution.id]


class TakenOverOnCreation(SlowCreations):
    """Slow creations, after which another engine's recovery takes the new execution over
    before the creator goes on."""

    def __init__(self, inner: Storage, delay: float, other: Engine) -> None:
        super().__init__(inner, delay)
        self.other = other

    async def create_execution(self, execution: Any, **terms: Any) -> Lease | None:
        lease = await super().create_execution(execution, **terms)
        assert await self.other.recover() == [execution.id]
        return lease


async def test_an_execution_taken_over_while_created_runs_there_and_is_awaited_there(
    make_shared_storage: StorageFactory,
) -> None:
    """When another engine took a new execution over before its creator could renew the
    lease, the creator does not run it too: execute() waits for the other engine's end."""
    calls: list[str] = []
    registry = napping(calls, seconds=0.3)
    terms: dict[str, Any] = {"lease_ttl": 1.0, "poll_interval": 0.1, "recover": False}
    async with Engine(make_shared_storage(), registry, **terms) as other:
        storage = TakenOverOnCreation(make_shared_storage(), delay=1.2, other=other)
        async with Engine(storage, registry, **terms) as creator:  # type: ignore[arg-type]
            done = await creator.execute(workflow(node("n", "nap")))
    assert done.status is ExecutionStatus.COMPLETED
    assert calls == [done.id]


async def test_a_cancel_of_an_execution_nobody_runs_ends_its_record(
    make_shared_storage: StorageFactory,
) -> None:
    """Cancelled while no engine runs it (its engine closed, or died, before writing its end):
    an engine on the storage writes that end as the run would have, once the run's lease has
    run out: nodes not done are pending, the log ends with "Execution cancelled" and the
    execution.cancelled event is stored. Before, the record stayed as the crash left it: a
    node running in a cancelled execution, no end in its log or events."""
    calls: list[str] = []
    registry = napping(calls, seconds=5)
    document = chain(node("n", "nap"), node("z", "noop"))
    execution_id = await left_running(make_shared_storage, registry, document)
    terms: dict[str, Any] = {"lease_ttl": 0.3, "poll_interval": 0.05, "recover": False}
    async with Engine(make_shared_storage(), registry, **terms) as other:
        await other.cancel(execution_id)
        with anyio.fail_after(10):  # liveness bound
            while "execution.cancelled" not in await event_types(other, execution_id):
                await anyio.sleep(0.05)
        stored = await other.get_execution(execution_id)
        types = await event_types(other, execution_id)
    assert stored.status is ExecutionStatus.CANCELLED
    assert [(n.node_id, n.status.value) for n in stored.node_executions] == [
        ("start", "completed"),
        ("n", "pending"),
        ("z", "pending"),
    ]
    assert [entry.message for entry in stored.logs] == ["Execution started", "Execution cancelled"]
    assert types.count("execution.cancelled") == 1
    assert calls == [execution_id]  # n did not run again


class FailsOneWrite(Wrapped):
    """A storage whose first progress write fails (the database locked past its timeout)."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.failures = 0

    async def save_progress(self, execution_id: str, **progress: Any) -> None:
        if not self.failures:
            self.failures += 1
            raise StorageError("database is locked")
        await self.inner.save_progress(execution_id, **progress)


async def ended(engine: Engine, execution_id: str) -> None:
    with anyio.fail_after(10):  # liveness bound
        while "execution.cancelled" not in await event_types(engine, execution_id):
            await anyio.sleep(0.05)


async def test_a_cancel_end_whose_write_fails_is_tried_again_until_it_is_stored(
    make_shared_storage: StorageFactory,
) -> None:
    """The delivery that writes a cancelled execution's end is done only once that end is
    stored: its write failing, it is tried again (before, it counted as delivered and the end
    was never written)."""
    registry = napping([], seconds=5)
    document = chain(node("n", "nap"), node("z", "noop"))
    execution_id = await left_running(make_shared_storage, registry, document)
    storage = FailsOneWrite(make_shared_storage())
    terms: dict[str, Any] = {"lease_ttl": 0.3, "poll_interval": 0.05, "recover": False}
    async with Engine(storage, registry, **terms) as other:  # type: ignore[arg-type]
        await other.cancel(execution_id)
        await ended(other, execution_id)
        stored = await other.get_execution(execution_id)
    assert storage.failures == 1
    assert [(n.node_id, n.status.value) for n in stored.node_executions] == [
        ("start", "completed"),
        ("n", "pending"),
        ("z", "pending"),
    ]
    assert "Execution cancelled" in [entry.message for entry in stored.logs]


class FailsOneRead(Wrapped):
    """A storage whose first read of an execution's events fails (the database locked)."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.failures = 0

    async def list_events(self, execution_id: str, **after: Any) -> Any:
        if not self.failures:
            self.failures += 1
            raise StorageError("database is locked")
        return await self.inner.list_events(execution_id, **after)


async def test_a_cancel_end_whose_read_fails_is_tried_again(
    make_shared_storage: StorageFactory,
) -> None:
    """A storage error anywhere in the attempt (here its first read) is a failed attempt,
    tried again (before, an error outside the take-over gave the delivery up for good)."""
    registry = napping([], seconds=5)
    execution_id = await left_running(make_shared_storage, registry, chain(node("n", "nap")))
    storage = FailsOneRead(make_shared_storage())
    terms: dict[str, Any] = {"lease_ttl": 0.3, "poll_interval": 0.05, "recover": False}
    async with Engine(storage, registry, **terms) as other:  # type: ignore[arg-type]
        await other.cancel(execution_id)
        with anyio.fail_after(10):  # liveness bound; read past the failing wrapper
            while "execution.cancelled" not in [
                event.data["type"] for event in await storage.inner.list_events(execution_id)
            ]:
                await anyio.sleep(0.05)
    assert storage.failures == 1


async def test_a_cancel_end_keeps_the_loop_iterations_the_dead_run_completed(
    make_shared_storage: StorageFactory,
) -> None:
    """Writing the end of a run that died inside a loop keeps the iterations it completed,
    outputs and all (before, they were made pending and their outputs erased, as for a run
    that goes on and runs them again); only what was running becomes pending."""
    registry = NodeRegistry()

    @registry.register("last_is_slow")
    async def last_is_slow(ctx: Any) -> dict[str, Any]:
        if ctx.input["i"] == 3:
            await anyio.sleep(5)
        return {"done": ctx.input["i"]}

    document = workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": [1, 2, 3]}),
        node("mk", "set", config={"values": {"i": "{{ $item }}"}, "keepOnlySet": True}),
        node("body", "last_is_slow"),
        connections=[
            conn("start", "each"),
            conn("each", "mk", sourcePort="loop"),
            conn("mk", "body"),
        ],
    )
    async with Engine(make_shared_storage(), registry) as first:
        execution = await first.execute(document, wait=False)
        with anyio.fail_after(10):  # liveness bound: stored up to the third iteration's mk
            while len((await first.get_execution(execution.id)).node_executions) < 7:
                await anyio.sleep(0.02)
    terms: dict[str, Any] = {"lease_ttl": 0.3, "poll_interval": 0.05, "recover": False}
    async with Engine(make_shared_storage(), registry, **terms) as other:
        await other.cancel(execution.id)
        await ended(other, execution.id)
        stored = await other.get_execution(execution.id, include_data=True)
    runs = [(n.node_id, n.iteration, n.status.value, n.output) for n in stored.node_executions]
    assert runs[1:] == [
        ("each", None, "pending", None),
        ("mk", 0, "completed", {"i": 1}),
        ("body", 0, "completed", {"done": 1}),
        ("mk", 1, "completed", {"i": 2}),
        ("body", 1, "completed", {"done": 2}),
        ("mk", 2, "completed", {"i": 3}),
    ]


async def test_a_cancel_end_waits_while_the_run_here_has_not_written_the_end(
    make_shared_storage: StorageFactory,
) -> None:
    """While the run in this engine has not written its end yet (a node slow to stop), the
    delivery is postponed, neither counted as an attempt nor done (before, it counted as
    delivered: had the engine then died, nobody would have written the end)."""
    registry = NodeRegistry()
    started = anyio.Event()

    @registry.register("stubborn")
    async def stubborn(ctx: Any) -> None:
        started.set()
        with anyio.CancelScope(shield=True):  # work that a cancel cannot interrupt
            await anyio.sleep(1.2)

    terms: dict[str, Any] = {"lease_ttl": 0.3, "poll_interval": 0.05}
    async with Engine(make_shared_storage(), registry, **terms) as engine:
        execution = await engine.execute(chain(node("s", "stubborn")), wait=False)
        await started.wait()
        await engine.cancel(execution.id)
        await anyio.sleep(0.9)  # the delivery came due at 0.3 s and was attempted
        pending = await engine.storage.pending_deliveries(now=time.time() + 3600)
        await ended(engine, execution.id)  # by the run, once its node gave in
    [cancel_end] = [d for d in pending if d["url"] == "linkflow:cancel-end"]
    assert (cancel_end["attempts"], cancel_end["status"]) == (0, "pending")
    assert cancel_end["lastError"] == "its run here has not written its end yet"


async def event_types(engine: Engine, execution_id: str) -> list[str]:
    return [event.data["type"] for event in await engine.storage.list_events(execution_id)]


class FailsFirstRecoveryRead(Wrapped):
    """A storage whose first read of the executions to recover fails (a busy database)."""

    def __init__(self, inner: Storage) -> None:
        super().__init__(inner)
        self.failures = 0

    async def recoverable_executions(self, *, now: float) -> list[str]:
        if not self.failures:
            self.failures += 1
            raise StorageError("database is locked")
        return list(await self.inner.recoverable_executions(now=now))


async def test_an_engine_starts_when_its_recovery_at_start_fails(
    make_shared_storage: StorageFactory,
) -> None:
    """The recovery an engine runs as it starts meets a storage error: the engine starts all
    the same (before, ``async with Engine(...)`` raised an ExceptionGroup), and its periodic
    recovery takes the execution up."""
    calls: list[str] = []
    registry = napping(calls, seconds=0.5)
    execution_id = await left_running(make_shared_storage, registry, chain(node("n", "nap")))
    storage = FailsFirstRecoveryRead(make_shared_storage())
    async with Engine(storage, registry, lease_ttl=0.3, poll_interval=0.05) as engine:  # type: ignore[arg-type]
        assert storage.failures == 1
        await until_status(engine, execution_id, ExecutionStatus.COMPLETED)
    assert calls == [execution_id, execution_id]
