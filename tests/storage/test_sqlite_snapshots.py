"""SQLite keeps each distinct workflow snapshot once, however many executions ran it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from builders import chain, node
from linkflow_engine import Engine
from linkflow_engine.storage.sqlite import SQLiteStorage


def _stored_snapshots(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        (count,) = connection.execute("SELECT COUNT(*) FROM snapshots").fetchone()
    return int(count)


async def test_executions_share_their_snapshot_and_prune_drops_unused_ones(
    tmp_path: Path,
) -> None:
    """Ten runs of one workflow store one snapshot; a changed workflow adds a second; every
    execution reads back the snapshot it ran; pruning the runs of the first version drops
    its snapshot and keeps the one still in use."""
    path = tmp_path / "db"
    first = chain(node("v", "set", config={"values": {"version": 1}}))
    second = chain(node("v", "set", config={"values": {"version": 2}}))
    async with Engine(SQLiteStorage(path)) as engine:
        old_runs = [await engine.execute(first) for _ in range(10)]
        assert _stored_snapshots(path) == 1
        new_run = await engine.execute(second)
        assert _stored_snapshots(path) == 2
        for run, document in ((old_runs[0], first), (new_run, second)):
            stored = await engine.get_execution(run.id)
            assert stored.workflow is not None
            assert stored.workflow.nodes == engine.validate(document).nodes
        assert await engine.prune(keep_last_per_workflow=1) == 10
        assert _stored_snapshots(path) == 1
        assert (await engine.get_execution(new_run.id)).workflow is not None


async def test_a_run_after_its_snapshot_was_pruned_stores_it_again(tmp_path: Path) -> None:
    """An execution refers to its snapshot only while the snapshot is stored: once prune has
    dropped it (no execution used it any more), the next run of that workflow stores it anew
    and reads it back."""
    path = tmp_path / "db"
    document = chain(node("v", "set", config={"values": {"version": 1}}))
    async with Engine(SQLiteStorage(path)) as engine:
        await engine.execute(document)
        assert await engine.prune(older_than=0) == 1
        assert _stored_snapshots(path) == 0
        again = await engine.execute(document)
        assert _stored_snapshots(path) == 1
        stored = await engine.get_execution(again.id)
        assert stored.workflow is not None
        assert stored.workflow.nodes == engine.validate(document).nodes
