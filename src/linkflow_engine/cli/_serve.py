"""``linkflow serve``: the HTTP API (and WebSocket) over an engine, with uvicorn.

The engine is open for the server's whole life, so it recovers interrupted executions when it
starts and, on SIGTERM or SIGINT, uvicorn stops taking requests, finishes the ones in flight
(up to ``--graceful-timeout``) and the engine closes, leaving durable executions resumable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ._common import DEFAULT_DB, EXIT_OK, InputError, add_storage_options, open_storage, registry

__all__ = ["add_commands"]

DEFAULT_USER = "api"
GENERATED_USER = "admin"

_DESCRIPTION = """\
Serve the HTTP API (/api/v1, /ws, /health) until SIGTERM or SIGINT.

API keys (Authorization: Bearer KEY) come from --api-key or $LINKFLOW_API_KEYS. Without any,
the first start generates a key, prints it once on stderr and keeps only its SHA-256 hash in
the keys file (default: the SQLite file's path + '.keys', mode 0600); later starts without a
key load the hashes from there, so the printed key keeps working. Delete the file for a new key.
"""


def add_commands(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the HTTP API server",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_storage_options(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port to listen on (8080)")
    serve.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="KEY[:USER]",
        help=f"accept this key; USER (default {DEFAULT_USER!r}) becomes the executions'"
        " triggeredBy (repeatable; default: $LINKFLOW_API_KEYS, comma-separated)",
    )
    serve.add_argument(
        "--keys-file",
        type=Path,
        metavar="PATH",
        help="where a generated key's hash is kept (default: <db>.keys, or none for"
        " :memory: and PostgreSQL unless given)",
    )
    serve.add_argument(
        "--allow-outbound",
        action="append",
        default=[],
        metavar="HOST_OR_CIDR",
        help="let callbacks and node requests reach this private, loopback or link-local host"
        " or network (repeatable; default: $LINKFLOW_ALLOW_OUTBOUND, comma-separated)",
    )
    serve.add_argument(
        "--callback-secret",
        metavar="SECRET",
        help="sign webhook callbacks with HMAC-SHA256 (default: $LINKFLOW_CALLBACK_SECRET)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=_positive,
        default=1_000_000,
        metavar="N",
        help="refuse larger request bodies with 413 (1000000)",
    )
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="on shutdown, how long requests in flight may take to finish (10)",
    )
    serve.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (info)",
    )
    serve.set_defaults(command=_serve)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port (0-65535)")
    return port


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return number


def _serve(args: argparse.Namespace) -> int:
    import anyio

    keys = parse_keys(args.api_key or _env_list("LINKFLOW_API_KEYS"))
    hashes: dict[str, str] = {}
    if not keys:
        hashes = stored_or_generated_hashes(_keys_file(args))
    storage = open_storage(args)
    anyio.run(_run_server, args, storage, keys, hashes)
    return EXIT_OK


async def _run_server(
    args: argparse.Namespace, storage: Any, keys: dict[str, str], hashes: dict[str, str]
) -> None:
    import uvicorn

    from ..http import create_app
    from ..runtime import Engine

    engine = Engine(
        storage,
        registry(),
        allow_outbound=args.allow_outbound or _env_list("LINKFLOW_ALLOW_OUTBOUND"),
        callback_secret=args.callback_secret or os.environ.get("LINKFLOW_CALLBACK_SECRET"),
        scheduler=True,
    )
    async with engine:
        app = create_app(
            engine, api_keys=keys, api_key_hashes=hashes, max_body_bytes=args.max_body_bytes
        )
        config = uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            lifespan="off",
            timeout_graceful_shutdown=args.graceful_timeout,
        )
        try:
            await _quiet_exit_server(config).serve()
        finally:
            await app.state.webhooks.aclose()


def _quiet_exit_server(config: Any) -> Any:
    """A uvicorn server that does not re-raise the signal it stopped on.

    uvicorn re-raises SIGTERM/SIGINT once it has shut down, which would kill the process (or
    raise KeyboardInterrupt) before the engine closes; here the engine closes and the command
    exits 0.
    """
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    self._captured_signals.clear()

    return Server(config)


def _env_list(name: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def parse_keys(entries: list[str]) -> dict[str, str]:
    """``KEY[:USER]`` entries as key -> user id."""
    keys = {}
    for entry in entries:
        key, _, user = entry.strip().partition(":")
        if not key:
            raise InputError(f"--api-key {entry!r}: the key is empty")
        keys[key] = user or DEFAULT_USER
    return keys


def _keys_file(args: argparse.Namespace) -> Path | None:
    if args.keys_file is not None:
        return Path(args.keys_file)
    if args.database_url or (not args.db and os.environ.get("LINKFLOW_DATABASE_URL")):
        return None
    db = args.db or os.environ.get("LINKFLOW_DB") or DEFAULT_DB
    return None if db == ":memory:" else Path(f"{db}.keys")


def stored_or_generated_hashes(path: Path | None) -> dict[str, str]:
    """The hashes kept in ``path``; when there are none, a new key's (printed once)."""
    stored = _read_hashes(path) if path is not None else {}
    if stored:
        print(f"linkflow: accepting the API key(s) hashed in {path}", file=sys.stderr)
        return stored
    from ..http._auth import hash_key

    key = secrets.token_urlsafe(32)
    hashes = {hash_key(key): GENERATED_USER}
    if path is not None:
        _write_hashes(path, hashes)
    kept = f"only its SHA-256 hash is kept, in {path}" if path else "it is not stored anywhere"
    print(f"linkflow: generated API key (shown once; {kept}):\n  {key}", file=sys.stderr)
    return hashes


def _read_hashes(path: Path) -> dict[str, str]:
    try:
        document = json.loads(path.read_text("utf-8"))
        return {entry["sha256"]: entry["user"] for entry in document["keys"]}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(f"cannot read the keys file {path}: {error}") from None


def _write_hashes(path: Path, hashes: dict[str, str]) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    entries = [{"sha256": h, "user": user, "createdAt": now} for h, user in hashes.items()]
    # Created 0600 from the start: a hash is no key, but nobody else needs to read it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump({"keys": entries}, out, indent=2)
