"""Run the crash workflow on durable storage until killed: crash_worker.py KIND TARGET LOG"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))

from crash_nodes import crash_registry, crash_workflow

from linkflow_engine import Engine


def storage(kind: str, target: str):  # type: ignore[no-untyped-def]
    if kind == "sqlite":
        from linkflow_engine.storage.sqlite import SQLiteStorage

        return SQLiteStorage(target)
    from linkflow_engine.storage.postgres import PostgresStorage

    dsn, schema = target.split("#")
    return PostgresStorage(dsn, schema=schema)


async def main(kind: str, target: str, log_path: str) -> None:
    registry = crash_registry(log_path, seconds=0.4)
    async with Engine(storage(kind, target), registry, lease_ttl=1.0) as engine:
        await engine.execute(crash_workflow(), {"n": 0})


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:4])
