"""A real HTTP server on loopback for the http_request tests (stdlib, in a thread).

Routes: ``/json``, ``/text``, ``/missing`` (404), ``/limited`` (429, Retry-After: 1),
``/limited-date`` (429, Retry-After as an HTTP date), ``/flaky?key=K`` (500 on the first call
per key, then 200), ``/slow`` (answers after 3 s), ``/huge`` (200 KB), ``/redirect`` (302 to
``/json``), ``/redirect-private`` (302 to 10.255.255.1), ``/loop`` (302 to itself), ``/echo``
(the request as JSON), ``/hook`` (keeps callback bodies), ``/token`` (OAuth2 client
credentials) and ``/protected`` (needs its bearer token).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import anyio

CLIENT_ID, CLIENT_SECRET = "client-1", "oauth-client-secret-77"


class Upstream:
    """The running server: its base URL and what it saw."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.calls: Counter[str] = Counter()
        self.tokens_issued = 0
        self.revoked: set[str] = set()
        self.hooks: list[bytes] = []
        self.hook_received = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    upstream: Upstream

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        self.upstream.calls[parts.path + (f"?{parts.query}" if parts.query else "")] += 1
        route = getattr(self, "_" + parts.path.strip("/").replace("-", "_"), None)
        if route is None:
            self._send(404, {"error": "no such route"})
        else:
            route(query, body)

    def _send(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        is_json = not isinstance(body, bytes)
        self.send_header("Content-Type", "application/json" if is_json else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _json(self, query: dict[str, str], body: bytes) -> None:
        self._send(200, {"hello": "world", "n": 1})

    def _text(self, query: dict[str, str], body: bytes) -> None:
        self._send(200, b"plain text")

    def _missing(self, query: dict[str, str], body: bytes) -> None:
        self._send(404, {"error": "not found"})

    def _limited(self, query: dict[str, str], body: bytes) -> None:
        self._send(429, {"error": "slow down"}, {"Retry-After": "1"})

    def _limited_date(self, query: dict[str, str], body: bytes) -> None:
        now = time.time()
        headers = {"Retry-After": formatdate(now + 120, usegmt=True)}
        self._send(429, {"error": "slow down"}, headers)

    def _flaky(self, query: dict[str, str], body: bytes) -> None:
        seen = self.upstream.calls[f"/flaky?key={query.get('key')}"]
        if seen <= int(query.get("failures", "1")):
            self._send(500, {"error": "try again"})
        else:
            self._send(200, {"ok": True, "attempt": seen})

    def _slow(self, query: dict[str, str], body: bytes) -> None:
        time.sleep(3)
        self._send(200, {"slow": True})

    def _huge(self, query: dict[str, str], body: bytes) -> None:
        self._send(200, b"x" * 200_000)

    def _redirect(self, query: dict[str, str], body: bytes) -> None:
        self._send(302, {}, {"Location": "/json"})

    def _redirect_private(self, query: dict[str, str], body: bytes) -> None:
        self._send(302, {}, {"Location": "http://10.255.255.1/secret"})

    def _loop(self, query: dict[str, str], body: bytes) -> None:
        self._send(302, {}, {"Location": "/loop"})

    def _echo(self, query: dict[str, str], body: bytes) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        echoed = {"method": self.command, "headers": headers, "query": query}
        echoed["body"] = body.decode()
        self._send(200, echoed)

    def _token(self, query: dict[str, str], body: bytes) -> None:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            self._send(401, {"error": "invalid_client"})
            return
        self.upstream.tokens_issued += 1
        token = f"access-token-{self.upstream.tokens_issued}-abcdef"
        self._send(200, {"access_token": token, "token_type": "bearer", "expires_in": 3600})

    def _hook(self, query: dict[str, str], body: bytes) -> None:
        self.upstream.hooks.append(body)
        self.upstream.hook_received.set()
        self._send(200, {})

    def _protected(self, query: dict[str, str], body: bytes) -> None:
        auth = self.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not auth.startswith("Bearer access-token-") or token in self.upstream.revoked:
            self._send(401, {"error": "unauthorized"})
        else:
            self._send(200, {"authorized": True, "token": auth.removeprefix("Bearer ")})


def serve() -> Iterator[Upstream]:
    """Start the server for a fixture; stop it afterwards."""
    handler = type("Handler", (_Handler,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    upstream = Upstream(server)
    handler.upstream = upstream
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()


class RecordingClock:
    """The system clock, except that sleeps are recorded and pass (nearly) at once."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await anyio.sleep(min(seconds, 0.01))  # background pollers must not spin


def workflow(*configs: dict[str, object], node_type: str = "http_request") -> dict[str, object]:
    """A manual trigger followed by a chain of nodes, named H1, H2 … with these configs."""
    nodes: list[dict[str, object]] = [{"id": "t", "type": "manual_trigger", "name": "Start"}]
    connections = []
    for index, config in enumerate(configs, start=1):
        node = {"id": f"h{index}", "type": node_type, "name": f"H{index}"}
        extra = {k: config.pop(k) for k in ("retryOnFail", "maxRetries", "onError") if k in config}
        nodes.append({**node, **extra, "config": config})
        connections.append({"source": nodes[-2]["id"], "target": f"h{index}"})
    return {"name": "http test", "nodes": nodes, "connections": connections}
