"""Storage benchmarks: durable progress per node (W3) and history queries at 1M executions (L).

Run with ``.venv/bin/python bench/storage.py [--runs N] [--rounds N] [--rows N] [--dsn DSN]``;
it prints figures and ratios, and asserts nothing.

W3: a 20-node chain of an async ``{"i": n} -> {"i": n + 1}`` node, run many times by the engine on
SQLite and on PostgreSQL (progress saved after every node), by the in-memory engine, and by a
baseline that calls the same function in ``graphlib`` order and writes the 20 outputs in ONE
SQLite transaction per run. Targets: SQLite at most 50 µs per node. A *floor* calls the same
function and commits each output on its own (one-row INSERT, WAL, ``synchronous=NORMAL``): what
one commit per node costs on this machine with no engine around it. Baseline, floor, memory and
SQLite are each measured ``--rounds`` times (default 5), interleaved, each in a fresh process,
and the median is reported with the range.

Cancel: milliseconds from one engine's cancel() to the node of the run another engine holds on
the same database being interrupted. SQLite is polled (every 0.2 s, the default); PostgreSQL is
notified (LISTEN/NOTIFY), measured with a 30 s poll so that the notification alone counts.

L: 1,000,000 executions in a SQLite file (a few workflows, every status and mode, 60 days), then
``list_executions`` filtered by workflow and status (target < 10 ms) and ``execution_stats`` over
a month (target < 300 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import graphlib
import itertools
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import psycopg

from linkflow_engine import Engine, NodeRegistry
from linkflow_engine.runtime._records import ExecutionMode, ExecutionStatus
from linkflow_engine.storage._sql import EXECUTION_INSERT
from linkflow_engine.storage.base import ExecutionQuery
from linkflow_engine.storage.postgres import PostgresStorage
from linkflow_engine.storage.sqlite import SQLiteStorage

CHAIN = 20
DAY = 86400.0


async def inc(ctx: Any) -> dict[str, int]:
    return {"i": ctx.input["i"] + 1}


def chain_document() -> dict[str, Any]:
    nodes = [{"id": "start", "type": "manual_trigger", "name": "Start", "config": {}}]
    nodes += [{"id": f"n{k}", "type": "inc", "name": f"N{k}", "config": {}} for k in range(CHAIN)]
    connections = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return {"id": "wf-bench", "name": "Chain", "nodes": nodes, "connections": connections}


# -- W3 ------------------------------------------------------------------------------------------


async def engine_us_per_node(storage: Any, runs: int) -> float:
    registry = NodeRegistry()
    registry.register("inc", inc)
    async with Engine(storage=storage, registry=registry) as engine:
        workflow = engine.validate(chain_document())
        for _ in range(20):  # warm up caches and statement caches
            await engine.execute(workflow, {"i": 0})
        started = time.perf_counter()
        for _ in range(runs):
            execution = await engine.execute(workflow, {"i": 0})
        elapsed = time.perf_counter() - started
    if execution.outputs.get(f"n{CHAIN - 1}") != {"i": CHAIN}:
        print(f"  unexpected outputs: {execution.outputs}")
    return elapsed / runs / CHAIN * 1e6


async def baseline_us_per_node(path: Path, runs: int) -> float:
    """The same functions in topological order, one SQLite transaction per run for 20 outputs."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS outputs (run INTEGER, node TEXT, output TEXT)")
    graph = {f"n{k}": ({f"n{k - 1}"} if k else set()) for k in range(CHAIN)}
    order = list(graphlib.TopologicalSorter(graph).static_order())

    class Ctx:
        input: Any

    async def one_run(run: int) -> None:
        ctx = Ctx()
        ctx.input = {"i": 0}
        rows = []
        for node in order:
            ctx.input = await inc(ctx)
            rows.append((run, node, json.dumps(ctx.input)))
        db.execute("BEGIN")
        db.executemany("INSERT INTO outputs VALUES (?, ?, ?)", rows)
        db.execute("COMMIT")

    for run in range(20):
        await one_run(run)
    started = time.perf_counter()
    for run in range(runs):
        await one_run(run)
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed / runs / CHAIN * 1e6


async def floor_us_per_node(path: Path, runs: int) -> float:
    """What durable progress costs at the least on SQLite: the baseline's functions, each output
    written by a one-row INSERT committed on its own in WAL mode with ``synchronous=NORMAL``
    (the storage's settings), with no engine around it and no checkpoint (the WAL just grows).
    SQLiteStorage cannot store a node's progress for less than one such commit; the difference
    is its own work."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("CREATE TABLE IF NOT EXISTS outputs (key INTEGER PRIMARY KEY, output TEXT)")
    order = [f"n{k}" for k in range(CHAIN)]

    class Ctx:
        input: Any

    async def one_run(run: int) -> None:
        ctx = Ctx()
        ctx.input = {"i": 0}
        for k, _node in enumerate(order):
            ctx.input = await inc(ctx)
            db.execute(
                "INSERT INTO outputs VALUES (?, ?)", (run * CHAIN + k, json.dumps(ctx.input))
            )

    for run in range(20):
        await one_run(run)
    started = time.perf_counter()
    for run in range(20, 20 + runs):
        await one_run(run)
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed / runs / CHAIN * 1e6


async def plain_commit_us_per_node(path: Path, runs: int) -> float:
    """The issue's reference: the same functions, each output committed on its own with SQLite's
    default settings (rollback journal, synchronous FULL). It calibrates the machine: about 170
    µs per node where the 50 µs target was set."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS outputs (run INTEGER, node TEXT, output TEXT)")

    class Ctx:
        input: Any

    started = time.perf_counter()
    for run in range(runs):
        ctx = Ctx()
        ctx.input = {"i": 0}
        for k in range(CHAIN):
            ctx.input = await inc(ctx)
            db.execute(
                "INSERT INTO outputs VALUES (?, ?, ?)", (run, f"n{k}", json.dumps(ctx.input))
            )
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed / runs / CHAIN * 1e6


W3_KINDS = {
    "baseline": "baseline (graphlib + 1 SQLite txn/run)",
    "floor": "floor (graphlib + 1 WAL commit/node)",
    "memory": "engine, memory",
    "sqlite": "engine, SQLite (durable)",
}


async def w3_one(kind: str, workdir: Path, runs: int) -> float:
    """One W3 figure, measured in this process (see :func:`bench_w3`)."""
    if kind == "baseline":
        return await baseline_us_per_node(workdir / "baseline.db", runs)
    if kind == "floor":
        return await floor_us_per_node(workdir / "floor.db", runs)
    if kind == "memory":
        return await engine_us_per_node(None, runs)
    return await engine_us_per_node(SQLiteStorage(workdir / "w3.db"), runs)


def w3_in_subprocess(kind: str, runs: int) -> float:
    """A W3 figure measured by a fresh Python process, so that no figure depends on what the
    process ran before it (the heap, the garbage collector's generations, warm caches)."""
    script = os.path.abspath(__file__)
    command = [sys.executable, script, "--w3-one", kind, "--runs", str(runs)]
    return float(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


async def bench_w3(runs: int, dsn: str, rounds: int) -> None:
    """Baseline, memory and SQLite are each measured ``rounds`` times, interleaved, each time in
    a fresh process, and reported as the median with the range: this machine's speed drifts by
    10-20% over seconds, which one run per engine would put into the ratio. PostgreSQL, slower,
    is measured once."""
    print(f"W3: {CHAIN}-node chain, {runs} runs each, µs per node, median of {rounds} rounds")
    samples: dict[str, list[float]] = {name: [] for name in W3_KINDS.values()}
    for _ in range(rounds):
        for kind, name in W3_KINDS.items():
            samples[name].append(w3_in_subprocess(kind, runs))
    schema = f"bench_{os.getpid()}"
    try:
        samples["engine, PostgreSQL (durable)"] = [
            await engine_us_per_node(PostgresStorage(dsn, schema=schema), max(runs // 5, 20))
        ]
    except psycopg.OperationalError as error:
        print(f"  (PostgreSQL skipped: {error})")
    finally:
        _drop_schema(dsn, schema)
    with tempfile.TemporaryDirectory() as tmp:
        plain = await plain_commit_us_per_node(Path(tmp) / "plain.db", max(runs // 10, 10))
    figures = {name: statistics.median(values) for name, values in samples.items()}
    base = figures[W3_KINDS["baseline"]]
    for name, value in figures.items():
        values = samples[name]
        spread = f"({min(values):6.1f}-{max(values):6.1f})" if len(values) > 1 else " " * 15
        print(f"  {name:40s} {value:7.1f} µs/node {spread}  x{value / base:5.2f} baseline")
    sqlite_value = figures[W3_KINDS["sqlite"]]
    memory_value = figures[W3_KINDS["memory"]]
    print(
        f"  SQLite vs memory engine: +{sqlite_value - memory_value:.1f} µs/node "
        f"(x{sqlite_value / memory_value:.2f} the memory engine, measured alongside)"
    )
    commit = figures[W3_KINDS["floor"]] - base  # one WAL commit per node, alone
    print(
        f"  one WAL commit per node alone (floor - baseline): {commit:.1f} µs/node; "
        f"memory engine + that: {memory_value + commit:.1f} µs/node, the least a durable run "
        f"can cost here; SQLite's durable work beyond it: {sqlite_value - memory_value - commit:+.1f}"
    )
    print(f"  target SQLite <= 50 µs/node: {'met' if sqlite_value <= 50 else 'NOT met'}")
    print(f"  reference, a plain commit per node with SQLite defaults: {plain:.0f} µs/node")


async def cancel_latency_ms(
    make_storage: Any, *, poll_interval: float, samples: int = 10
) -> list[float]:
    """Milliseconds from Engine B's cancel() to the run held by Engine A (same database)
    interrupting its node: B writes the status, A's keeper sees it by a notification when the
    storage sends them (PostgreSQL), else at its next poll."""
    registry = NodeRegistry()
    interrupted: list[float] = []

    @registry.register("sleepy")
    async def sleepy(ctx: Any) -> None:
        try:
            await anyio.sleep(60)
        finally:
            interrupted.append(time.perf_counter())

    document = {
        "nodes": [{"id": "start", "type": "manual_trigger"}, {"id": "s", "type": "sleepy"}],
        "connections": [{"source": "start", "target": "s"}],
    }
    latencies = []
    async with (
        Engine(make_storage(), registry, poll_interval=poll_interval) as holder,
        Engine(make_storage(), registry, poll_interval=poll_interval) as other,
    ):
        for _ in range(samples):
            execution = await holder.execute(document, wait=False)
            await anyio.sleep(0.05)
            before = time.perf_counter()
            await other.cancel(execution.id)
            while len(interrupted) <= len(latencies):  # noqa: ASYNC110 - a bench, polling is fine
                await anyio.sleep(0.001)
            latencies.append((interrupted[-1] - before) * 1000)
    return sorted(latencies)


async def bench_cancel(workdir: Path, dsn: str) -> None:
    """SQLite by polling (the default 0.2 s); PostgreSQL by LISTEN/NOTIFY, its poll set to 30 s
    so that only a notification can explain a stop within the measured time."""
    print("Cancel from another engine on the same database (target < 1000 ms, 100 ms with NOTIFY)")
    figures = {
        "SQLite, polling every 0.2 s": await cancel_latency_ms(
            lambda: SQLiteStorage(workdir / "cancel.db"), poll_interval=0.2
        )
    }
    schema = f"bench_cancel_{os.getpid()}"
    try:
        figures["PostgreSQL, LISTEN/NOTIFY (poll 30 s)"] = await cancel_latency_ms(
            lambda: PostgresStorage(dsn, schema=schema), poll_interval=30.0
        )
    except psycopg.OperationalError as error:
        print(f"  (PostgreSQL skipped: {error})")
    finally:
        _drop_schema(dsn, schema)
    for name, values in figures.items():
        median, worst = values[len(values) // 2], values[-1]
        print(f"  {name:38s} median {median:6.1f} ms, max {worst:6.1f} ms")


def _drop_schema(dsn: str, schema: str) -> None:
    try:
        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    except psycopg.OperationalError:
        pass


# -- L -------------------------------------------------------------------------------------------


def generate(path: Path, rows: int, now: float) -> None:
    """Bulk-insert ``rows`` executions spread over 60 days (one transaction, executemany)."""
    rng = random.Random(7)
    statuses = [s.value for s in ExecutionStatus]
    weights = [1, 2, 1, 85, 9, 2]
    modes = [m.value for m in ExecutionMode]
    workflows = [f"wf-{k}" for k in range(5)]
    start = now - 60 * DAY
    step = 60 * DAY / rows

    def row(k: int) -> tuple[Any, ...]:
        created = start + k * step
        status = rng.choices(statuses, weights)[0]
        finished = (
            created + 1 + rng.random() * 30
            if status in ("completed", "failed", "cancelled")
            else None
        )
        workflow_id = rng.choice(workflows)
        return (
            f"ex-{k:07d}", workflow_id, workflow_id.upper(), status, rng.choice(modes), created,
            created + 1, finished, finished if status == "cancelled" else None, None, 0, None,
            None, "{}", '{"i":0}', None, "{}",
        )  # fmt: skip

    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    db.executemany(
        EXECUTION_INSERT,
        (row(k) for k in range(rows)),
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    db.close()


def timed(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.2f} ms, max {max(samples) * 1000:7.2f} ms"


async def bench_l(workdir: Path, rows: int) -> None:
    now = time.time()
    path = workdir / "history.db"
    storage = SQLiteStorage(path)
    await storage.open()
    started = time.perf_counter()
    generate(path, rows, now)
    print(f"L: generated {rows:,} executions in {time.perf_counter() - started:.1f} s")
    query = ExecutionQuery(workflow_id="wf-2", status=ExecutionStatus.FAILED, limit=20)
    samples, stats_samples = [], []
    for _ in range(30):
        t = time.perf_counter()
        _page, total = await storage.list_executions(query)
        samples.append(time.perf_counter() - t)
    for period in ("month",) * 5:
        t = time.perf_counter()
        stats = await storage.execution_stats(period=period, now=now)
        stats_samples.append(time.perf_counter() - t)
    t = time.perf_counter()
    one = await storage.execution_stats(workflow_id="wf-2", period="month", now=now)
    one_workflow = time.perf_counter() - t
    await storage.aclose()
    print(f"  list 20 (workflow + status, total={total:,}): {timed(samples)}  (target < 10 ms)")
    print(
        f"  stats month (all, total={stats['total']:,}):  {timed(stats_samples)}  (target < 300 ms)"
    )
    print(f"  stats month (one workflow, total={one['total']:,}): {one_workflow * 1000:7.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="W3 rounds (median reported)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--w3-one", choices=sorted(W3_KINDS), help=argparse.SUPPRESS)
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "LINKFLOW_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    if args.w3_one:  # one W3 figure, for bench_w3's fresh process
        with tempfile.TemporaryDirectory() as tmp:
            print(await w3_one(args.w3_one, Path(tmp), args.runs))
        return
    with tempfile.TemporaryDirectory() as tmp:
        await bench_w3(args.runs, args.dsn, args.rounds)
        await bench_cancel(Path(tmp), args.dsn)
        await bench_l(Path(tmp), args.rows)


if __name__ == "__main__":
    asyncio.run(main())
