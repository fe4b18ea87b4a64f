"""HTTP benchmark: synchronous ``POST /api/v1/execute`` against a real ``linkflow serve``.

Run with ``.venv/bin/python bench/http.py [--seconds 20] [--clients 16]``. It starts
``linkflow serve`` on a temporary SQLite file (every execution persisted), drives a 5-node
workflow (manual_trigger -> set -> if -> set -> noop) from concurrent keep-alive connections, and
prints executions per second, p50/p99 latency and how many executions the database holds
afterwards. It asserts nothing. Target: 500 executions/s on a
2-core machine (n8n publishes about 220/s for webhook + Set on 2 vCPU).
"""

from __future__ import annotations

import sys

# This file is named http.py: with its folder first on sys.path, `import http` (by httpx) would
# find it instead of the standard library's package.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    del sys.path[0]

import argparse
import asyncio
import contextlib
import json
import socket
import sqlite3
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

KEY = "bench-key"
WORKFLOW: dict[str, Any] = {
    "id": "wf-bench",
    "name": "Bench",
    "nodes": [
        {"id": "start", "type": "manual_trigger"},
        {"id": "tag", "type": "set", "config": {"values": {"n": "{{ $input.n + 1 }}"}}},
        {"id": "check", "type": "if", "config": {"condition": "{{ $input.n > 1 }}"}},
        {"id": "big", "type": "set", "config": {"values": {"size": "big"}}},
        {"id": "end", "type": "noop"},
    ],
    "connections": [
        {"source": "start", "target": "tag"},
        {"source": "tag", "target": "check"},
        {"source": "check", "target": "big", "sourcePort": "true"},
        {"source": "big", "target": "end"},
    ],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    code = "import sys; from linkflow_engine.cli import main; sys.exit(main())"
    args = [
        "serve",
        "--db",
        str(db),
        "--port",
        str(port),
        "--api-key",
        KEY,
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen([sys.executable, "-c", code, *args])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return server
        time.sleep(0.05)
    server.kill()
    raise SystemExit("linkflow serve did not start")


REQUEST = json.dumps({"workflowId": "wf-bench", "options": {"inputData": {"n": 1}}}).encode()


class Connection:
    """One keep-alive HTTP/1.1 connection sending the same request again and again.

    The load comes from raw asyncio streams, not from an HTTP client library: on two cores the
    client shares the machine with the server, and httpx spends more CPU per request than the
    server does (measured: the server sat idle a third of the time at ~250 requests/s), so the
    figure would be the client's. Responses are still read whole and checked.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int):
        self.reader, self.writer = reader, writer
        self.request = (
            f"POST /api/v1/execute HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(REQUEST)}\r\n\r\n"
        ).encode() + REQUEST

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer, port)

    async def execute(self) -> bool:
        """One execution; True when it answered 200 with a completed execution."""
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        body = json.loads(await self.reader.readexactly(length))
        return status == 200 and body["data"]["status"] == "completed"

    def close(self) -> None:
        self.writer.close()


async def client_loop(port: int, stop_at: float, latencies: list[float]) -> int:
    failures = 0
    connection = await Connection.open(port)
    try:
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            ok = await connection.execute()
            latencies.append(time.perf_counter() - began)
            failures += not ok
    finally:
        connection.close()
    return failures


async def drive(url: str, port: int, seconds: float, clients: int) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as http:
        (await http.post("/api/v1/workflows", json=WORKFLOW)).raise_for_status()
    await client_loop(port, time.monotonic() + 1, [])  # warm up
    latencies: list[float] = []
    began = time.monotonic()
    stop_at = began + seconds
    failures = await asyncio.gather(
        *(client_loop(port, stop_at, latencies) for _ in range(clients))
    )
    elapsed = time.monotonic() - began
    report(latencies, elapsed, sum(failures), clients)


def report(latencies: list[float], elapsed: float, failures: int, clients: int) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1000
    print(
        f"clients: {clients}, executions: {len(ordered)} in {elapsed:.1f} s, failures: {failures}"
    )
    print(f"throughput: {len(ordered) / elapsed:.0f} executions/s")
    print(f"latency: p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        port = free_port()
        db = Path(directory) / "bench.db"
        server = start_server(db, port)
        try:
            asyncio.run(drive(f"http://127.0.0.1:{port}", port, args.seconds, args.clients))
        finally:
            server.terminate()
            server.wait(timeout=30)
        with contextlib.closing(sqlite3.connect(db)) as stored:
            (completed,) = stored.execute(
                "SELECT COUNT(*) FROM executions WHERE status = 'completed'"
            ).fetchone()
        print(f"persisted: {completed} completed executions in the SQLite file (warm-up included)")


if __name__ == "__main__":
    main()
