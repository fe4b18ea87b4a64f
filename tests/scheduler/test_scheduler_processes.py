"""Real time and real processes: every slot fires exactly once, across processes and restarts."""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from sched_workflows import cron_trigger, interval_trigger, scheduled_times, timed_workflow

from linkflow_engine import Engine
from linkflow_engine.storage.base import Storage
from linkflow_engine.storage.postgres import PostgresStorage
from linkflow_engine.storage.sqlite import SQLiteStorage

WORKER = Path(__file__).parent / "sched_worker.py"
POSTGRES_DSN = "postgresql://postgres@127.0.0.1:5432/test"

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(kind, target) of a database two processes can share."""
    if request.param == "sqlite":
        yield "sqlite", str(tmp_path / "sched.db")
        return
    schema = f"test_{uuid.uuid4().hex[:16]}"
    yield "postgres", f"{POSTGRES_DSN}#{schema}"
    with psycopg.connect(POSTGRES_DSN, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def open_storage(kind: str, target: str) -> Storage:
    if kind == "sqlite":
        return SQLiteStorage(target)
    dsn, schema = target.split("#")
    return PostgresStorage(dsn, schema=schema)


def run_workers(kind: str, target: str, *seconds: float) -> None:
    """Run one worker per entry of ``seconds`` at the same time, each for that long."""
    workers = [
        subprocess.Popen([sys.executable, str(WORKER), kind, target, str(s)]) for s in seconds
    ]
    for worker in workers:
        assert worker.wait(timeout=60) == 0


async def save(kind: str, target: str, document: dict[str, Any]) -> None:
    async with Engine(open_storage(kind, target)) as engine:
        await engine.save_workflow(document)


async def fired(kind: str, target: str) -> list[str]:
    async with Engine(open_storage(kind, target)) as engine:
        return await scheduled_times(engine)


def seconds_apart(times: list[str]) -> list[float]:
    instants = [datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in times]
    return [b - a for a, b in itertools.pairwise(instants)]


def test_two_processes_fire_every_slot_exactly_once(database: tuple[str, str]) -> None:
    """Two schedulers on one database, a per-second cron for 4 s: no slot twice, none skipped."""
    kind, target = database
    anyio.run(save, kind, target, timed_workflow(cron_trigger("* * * * * *")))
    run_workers(kind, target, 4.0, 4.0)
    times = anyio.run(fired, kind, target)
    assert len(times) >= 2
    assert max(Counter(times).values()) == 1
    assert set(seconds_apart(times)) == {1.0}


def test_a_restart_does_not_fire_a_slot_again(database: tuple[str, str]) -> None:
    """One process, then another right after: the slots of the first are not fired again."""
    kind, target = database
    trigger = interval_trigger(1, misfirePolicy="all", misfireGraceSeconds=0)
    anyio.run(save, kind, target, timed_workflow(trigger))
    run_workers(kind, target, 2.5)
    first = anyio.run(fired, kind, target)
    run_workers(kind, target, 2.5)
    times = anyio.run(fired, kind, target)
    assert times[: len(first)] == first
    assert max(Counter(times).values()) == 1


def test_a_misfire_policy_applies_after_downtime(tmp_path: Path) -> None:
    """Down for 3 s with misfirePolicy once: one catch-up fire inside the gap, no more."""
    kind, target = "sqlite", str(tmp_path / "sched.db")
    trigger = interval_trigger(1, misfireGraceSeconds=0.5)
    anyio.run(save, kind, target, timed_workflow(trigger))
    run_workers(kind, target, 2.0)
    before = anyio.run(fired, kind, target)
    subprocess.run(["sleep", "3"], check=True)
    run_workers(kind, target, 2.0)
    after = anyio.run(fired, kind, target)[len(before) :]
    gaps = seconds_apart([before[-1], *after])
    assert gaps[0] >= 2.0  # the catch-up: one slot from the downtime, not each of them
    assert all(gap == 1.0 for gap in gaps[2:])


@pytest.mark.parametrize(
    "trigger", [cron_trigger("* * * * * *"), interval_trigger(1)], ids=["cron", "interval"]
)
async def test_a_real_engine_fires_every_second(tmp_path: Path, trigger: dict[str, Any]) -> None:
    """Real time on SQLite, 3 s: a per-second trigger fires about three times, a second apart."""
    async with Engine(SQLiteStorage(tmp_path / "real.db"), scheduler=True) as engine:
        await engine.save_workflow(timed_workflow(trigger))
        await anyio.sleep(3.2)
        times = await scheduled_times(engine)
    assert 2 <= len(times) <= 4
    assert set(seconds_apart(times)) == {1.0}
