"""A real HTTP server on loopback that records the callbacks it receives."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """Answers ``fail_first`` requests with 500, then 200, each after ``delay`` seconds (and
    once ``gate`` is set, when given); keeps (headers, body) of each."""

    def __init__(
        self, fail_first: int = 0, delay: float = 0.0, gate: threading.Event | None = None
    ) -> None:
        self.fail_first = fail_first
        self.delay = delay
        self.gate = gate
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.received = threading.Event()
        self.url = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((dict(self.headers.items()), body))
                time.sleep(receiver.delay)
                if receiver.gate is not None:
                    receiver.gate.wait(30)
                failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.end_headers()
                if not failing:
                    receiver.received.set()

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def running(receiver: Receiver) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
