"""A progress write that fails stops the run: nothing it did after is written over the gap, and
recovery takes the execution up from what storage holds."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from durable_counting import Counting
from durable_storages import POSTGRES_DSN, RefusesWrites, StorageFactory

from builders import conn, node, workflow
from linkflow_engine import (
    Engine,
    ExecutionStatus,
    LeaseLostError,
    NodeContext,
    NodeStatus,
    StorageError,
)
from linkflow_engine.graph import Workflow
from linkflow_engine.runtime._records import Execution, ExecutionMode, NodeExecution
from linkflow_engine.storage.base import LeaseTerms
from linkflow_engine.storage.postgres import PostgresStorage

FAST_TERMS: dict[str, Any] = {"lease_ttl": 0.3, "poll_interval": 0.05}


def locked(execution_id: str) -> StorageError:
    return StorageError("database is locked")


def looping(**policy: Any) -> dict[str, Any]:
    """start -> loop ``each`` over three items, its body ``body``, then ``after`` (``count``
    nodes); ``policy``: the loop node's onError and retry fields."""
    return workflow(
        node("start", "manual_trigger"),
        node("each", "loop", config={"items": [1, 2, 3]}, **policy),
        node("body", "count"),
        node("after", "count"),
        connections=[
            conn("start", "each"),
            conn("each", "body", sourcePort="loop"),
            conn("each", "after", sourcePort="done"),
        ],
    )


def refusing_completion(make_storage: StorageFactory, node_id: str) -> RefusesWrites:
    """A storage whose first write of ``node_id``'s completed run fails (a busy database)."""
    return RefusesWrites(
        make_storage(),
        lambda run: run.node_id == node_id and run.status is NodeStatus.COMPLETED,
        locked,
    )


async def stopped_on_the_error(engine: Engine, document: dict[str, Any]) -> Execution:
    """Run ``document``, which stops on the storage error; the execution as stored then."""
    with pytest.raises(StorageError, match="database is locked"):
        await engine.execute(document)
    (left,), _ = await engine.list_executions()
    return await engine.get_execution(left.id)


def stored_run(sequence: int, node_id: str, now: float) -> NodeExecution:
    """A completed run as storage holds it (its output ``{"n": sequence}``)."""
    return NodeExecution(
        node_id=node_id, node_name=node_id, sequence=sequence, status=NodeStatus.COMPLETED,
        started_at=now - 5, finished_at=now - 5, attempts=1, port="output",
        input={"n": 0}, output={"n": sequence},
    )  # fmt: skip


async def ended(engine: Engine, execution_id: str) -> Execution:
    with anyio.fail_after(15):  # liveness bound: recovery takes it up within a few leases
        while not (await engine.storage.get_status(execution_id)).is_terminal:
            await anyio.sleep(0.05)
    return await engine.get_execution(execution_id, include_data=True)


async def test_a_failed_write_in_a_loop_body_stops_the_run_for_recovery(
    make_shared_storage: StorageFactory,
) -> None:
    """A body node's progress write fails: that is not the loop node's failure (before, the
    loop failed, or with onError continue the execution completed, without the body's runs).
    ``execute`` raises the storage error, the execution stays running, and recovery ends it
    with every iteration stored; only the iteration whose write failed runs again."""
    counting = Counting()
    document = looping(onError="continue")
    storage = refusing_completion(make_shared_storage, "body")
    async with Engine(storage, counting.registry, **FAST_TERMS) as engine:  # type: ignore[arg-type]
        left = await stopped_on_the_error(engine, document)
        assert left.status is ExecutionStatus.RUNNING
        done = await ended(engine, left.id)
    assert done.status is ExecutionStatus.COMPLETED
    assert [(n.node_id, n.iteration) for n in done.node_executions if n.node_id == "body"] == [
        ("body", 0),
        ("body", 1),
        ("body", 2),
    ]
    assert done.node("after").status is NodeStatus.COMPLETED
    assert counting.calls == {"body": 4, "after": 1}


async def test_a_failed_write_leaves_no_gap_for_the_other_branchs_write(
    make_shared_storage: StorageFactory,
) -> None:
    """Branch ``a``'s write fails while ``b`` runs: ``b``, interrupted, writes nothing after
    it (before, its write stored run 2 with run 1 missing; recovery then numbered ``a``'s new
    run 2 as well, one run overwrote the other, and ``a`` was gone from the record). Recovery
    ends the execution with every run, each under its own number."""
    counting = Counting()
    document = workflow(
        node("start", "manual_trigger"),
        node("a", "count"),
        node("b", "slow", config={"seconds": 0.5}),
        node("c", "count"),
        connections=[conn("start", "a"), conn("start", "b"), conn("a", "c"), conn("b", "c")],
    )
    storage = refusing_completion(make_shared_storage, "a")
    async with Engine(storage, counting.registry, **FAST_TERMS) as engine:  # type: ignore[arg-type]
        left = await stopped_on_the_error(engine, document)
        assert [n.node_id for n in left.node_executions] == ["start"]
        done = await ended(engine, left.id)
    assert done.status is ExecutionStatus.COMPLETED
    runs = [(n.sequence, n.node_id, n.status.value) for n in done.node_executions]
    assert sorted(node_id for _, node_id, _ in runs) == ["a", "b", "c", "start"]
    assert len({sequence for sequence, _, _ in runs}) == 4
    assert all(status == "completed" for _, _, status in runs)


async def test_a_run_taken_over_numbers_new_runs_after_the_last_stored_one(
    make_shared_storage: StorageFactory,
) -> None:
    """Stored run numbers with a gap (0 and 2, as a write that failed used to leave): the
    engine taking the execution over numbers its new run 3, and every run stays in the
    record."""
    counting = Counting()
    document = Workflow.from_dict(
        workflow(node("start", "manual_trigger"), node("a", "count"), node("b", "count"))
    )
    now = time.time()
    runs = [stored_run(0, "start", now), stored_run(2, "a", now)]
    crashed = Execution(
        id="exec-gap", workflow_id=None, workflow_name="gap", status=ExecutionStatus.RUNNING,
        mode=ExecutionMode.MANUAL, workflow=document, created_at=now - 6, started_at=now - 6,
        input_data={"n": 0}, node_executions=runs,
        options={"starts": [["start", {"n": 0}]]},
    )  # fmt: skip
    storage = make_shared_storage()
    await storage.open()
    try:
        await storage.create_execution(crashed, lease=LeaseTerms(owner="gone", ttl=0, now=now))
    finally:
        await storage.aclose()
    async with Engine(make_shared_storage(), counting.registry, **FAST_TERMS) as engine:
        done = await ended(engine, "exec-gap")
    assert done.status is ExecutionStatus.COMPLETED
    assert [(n.sequence, n.node_id) for n in done.node_executions] == [
        (0, "start"),
        (2, "a"),
        (3, "b"),
    ]
    assert counting.calls == {"b": 1}
    assert done.node("b").output == {"n": 3, "last": "b"}  # after a's output, n = 2


async def test_a_cancel_during_a_postgres_write_waits_for_it(
    make_postgres_storage: StorageFactory,
) -> None:
    """The run is cancelled while a node's progress write waits for a connection of the pool
    (one connection, held elsewhere for a moment): the write completes all the same, and the
    end follows it (before, the write was given up and the end was stored without that run)."""
    state: dict[str, Any] = {}

    class CancelsMidWrite(RefusesWrites):
        async def save_progress(self, execution_id: str, **progress: Any) -> None:
            if any(n.node_id == "a" for n in progress.get("nodes", ())) and "held" not in state:
                held = state["held"] = anyio.Event()

                async def hold_the_connection() -> None:
                    async with self.inner.pool.connection():
                        held.set()
                        await anyio.sleep(0.3)

                with anyio.CancelScope(shield=True):  # the cancel itself runs to its end
                    await state["engine"].cancel(execution_id)
                    state["group"].start_soon(hold_the_connection)
                    await held.wait()
                # The run's scope is cancelled now: the write waits for the connection, there.
            await self.inner.save_progress(execution_id, **progress)

    async def nap(ctx: NodeContext) -> Any:
        await anyio.sleep(30)

    counting = Counting()
    counting.registry.register("nap", nap)
    document = workflow(node("start", "manual_trigger"), node("a", "count"), node("z", "nap"))
    schema = make_postgres_storage().schema  # type: ignore[attr-defined]
    one_connection = PostgresStorage(POSTGRES_DSN, schema=schema, min_size=1, max_size=1)
    storage = CancelsMidWrite(one_connection, lambda run: False, locked)
    async with Engine(storage, counting.registry) as engine:  # type: ignore[arg-type]
        state["engine"] = engine
        async with anyio.create_task_group() as group:
            state["group"] = group
            execution = await engine.execute(document)
        stored = await engine.get_execution(execution.id, include_data=True)
    assert stored.status is ExecutionStatus.CANCELLED
    assert stored.node("a").status is NodeStatus.COMPLETED
    assert stored.node("a").output["last"] == "a"
    assert [n.sequence for n in stored.node_executions] == [0, 1, 2]


async def test_a_loop_that_retries_does_not_run_its_body_again_after_a_failed_write(
    make_shared_storage: StorageFactory,
) -> None:
    """A body node's write fails under a loop node that retries on failure: the run stops at
    once, with no attempt of the loop (which would run its body's handlers again)."""
    counting = Counting()
    document = looping(retryOnFail=True, maxRetries=2)
    storage = refusing_completion(make_shared_storage, "body")
    async with Engine(storage, counting.registry, recover=False) as engine:  # type: ignore[arg-type]
        await stopped_on_the_error(engine, document)
        assert counting.calls == {"body": 1}


class FailsSideBySide(RefusesWrites):
    """The writes of ``a`` and ``b`` are under way at once (neither can be cancelled, as on
    PostgreSQL): ``a``'s fails; ``b``'s fails too when ``both``, else it is stored."""

    both = False

    async def save_progress(self, execution_id: str, **progress: Any) -> None:
        nodes = {n.node_id for n in progress.get("nodes", ()) if n.status is NodeStatus.COMPLETED}
        if "a" in nodes:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.05)
            raise StorageError("server closed the connection (a)")
        if "b" in nodes:
            with anyio.CancelScope(shield=True):
                await anyio.sleep(0.15)
            if self.both:
                raise StorageError("server closed the connection (b)")
        await self.inner.save_progress(execution_id, **progress)


@pytest.mark.parametrize("both", [True, False])
async def test_writes_failing_side_by_side_raise_the_first_error_and_start_nothing_more(
    make_shared_storage: StorageFactory, both: bool
) -> None:
    """Two branches' writes are under way when the first fails: ``execute`` raises that one
    storage error (not a group of both), and no node starts after it, even behind a write
    that went through (before, ``b``'s next node ran on a run already stopped)."""
    counting = Counting()
    document = workflow(
        node("start", "manual_trigger"),
        node("a", "count"),
        node("b", "count"),
        node("b2", "count"),
        connections=[conn("start", "a"), conn("start", "b"), conn("b", "b2")],
    )
    storage = FailsSideBySide(make_shared_storage(), lambda run: False, locked)
    storage.both = both
    async with Engine(storage, counting.registry, recover=False) as engine:  # type: ignore[arg-type]
        with pytest.raises(StorageError, match=r"\(a\)"):
            await engine.execute(document)
    assert counting.calls == {"a": 1, "b": 1}


def lost(execution_id: str) -> LeaseLostError:
    return LeaseLostError(f"execution {execution_id!r} is owned by another process")


class LosesTheLease(RefusesWrites):
    """Once a write met another owner's fence, every later write does (a takeover)."""

    async def save_progress(self, execution_id: str, **progress: Any) -> None:
        if self.refused:
            raise lost(execution_id)
        await super().save_progress(execution_id, **progress)

    async def finish_execution(self, execution_id: str, **ending: Any) -> bool:
        if self.refused:
            raise lost(execution_id)
        return bool(await self.inner.finish_execution(execution_id, **ending))


@pytest.mark.parametrize(
    "policy", [{"retryOnFail": True, "maxRetries": 2}, {"onError": "continue"}]
)
async def test_a_lease_lost_in_a_loop_body_leaves_the_execution_at_once(
    make_shared_storage: StorageFactory, policy: dict[str, Any]
) -> None:
    """A body node's write finds another process running the execution: the run leaves it
    quietly, with no attempt of the loop after it (before, with retryOnFail the body ran
    again while the other process ran it too) and no node after the loop."""
    counting = Counting()
    document = looping(**policy)
    storage = LosesTheLease(
        make_shared_storage(),
        lambda run: run.node_id == "body" and run.status is NodeStatus.COMPLETED,
        lost,
    )
    async with Engine(storage, counting.registry, recover=False) as engine:  # type: ignore[arg-type]
        left = await engine.execute(document)
    assert counting.calls == {"body": 1}
    assert left.status is ExecutionStatus.RUNNING  # as this run left it, to the other process
