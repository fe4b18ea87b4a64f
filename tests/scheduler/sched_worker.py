"""Run an engine with the scheduler for a while: sched_worker.py KIND TARGET SECONDS

KIND is sqlite (TARGET a file) or postgres (TARGET "dsn#schema").
"""

from __future__ import annotations

import sys

import anyio

from linkflow_engine import Engine
from linkflow_engine.storage.base import Storage


def storage(kind: str, target: str) -> Storage:
    if kind == "sqlite":
        from linkflow_engine.storage.sqlite import SQLiteStorage

        return SQLiteStorage(target)
    from linkflow_engine.storage.postgres import PostgresStorage

    dsn, schema = target.split("#")
    return PostgresStorage(dsn, schema=schema)


async def main(kind: str, target: str, seconds: str) -> None:
    async with Engine(storage(kind, target), scheduler=True):
        await anyio.sleep(float(seconds))


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:4])
