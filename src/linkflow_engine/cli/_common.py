"""What the commands share: exit codes, reading JSON, the registry, the storage options."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..nodes import NodeRegistry
    from ..storage.base import Storage

__all__ = [
    "EXIT_FAILED",
    "EXIT_INVALID",
    "EXIT_OK",
    "InputError",
    "add_storage_options",
    "load_document",
    "load_json_argument",
    "open_storage",
    "print_json",
    "print_validation",
    "registry",
]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
DEFAULT_DB = "linkflow.db"


class InputError(Exception):
    """A file or argument the command cannot use (exit code 2)."""


def read_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{what} is not valid JSON: {error}") from None
    except RecursionError:
        raise InputError(f"{what} nests too deeply to read") from None


def load_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise InputError(f"cannot read {path}: not UTF-8 text ({error.reason})") from None
    return read_json(text, str(path))


def load_json_argument(value: str | None, option: str) -> Any:
    """JSON text, or ``@FILE`` to read it from a file."""
    if value is None:
        return None
    if value.startswith("@"):
        return load_document(Path(value[1:]))
    return read_json(value, option)


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def print_validation(error: Any) -> None:
    print(f"invalid: {len(error.details)} problem(s)", file=sys.stderr)
    for detail in error.details:
        print(f"  {detail['field']}: {detail['message']}", file=sys.stderr)


def registry() -> NodeRegistry:
    """The built-in node types plus every installed plugin (entry points)."""
    from ..nodes import NodeRegistry

    loaded = NodeRegistry()
    loaded.load_entry_points()
    return loaded


def add_storage_options(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--db",
        metavar="PATH",
        help="SQLite database file (default: $LINKFLOW_DB or ./linkflow.db; ':memory:' keeps"
        " nothing)",
    )
    where.add_argument(
        "--database-url",
        metavar="URL",
        help="PostgreSQL instead of SQLite, e.g. postgresql://user@host/db"
        " (default: $LINKFLOW_DATABASE_URL)",
    )


def open_storage(args: argparse.Namespace) -> Storage:
    """The storage the options name (not opened yet: the engine opens it)."""
    url = args.database_url or (None if args.db else os.environ.get("LINKFLOW_DATABASE_URL"))
    if url:
        try:
            from ..storage.postgres import PostgresStorage
        except ImportError:
            raise InputError(
                "--database-url needs the postgres extra: pip install 'linkflow-engine[postgres]'"
            ) from None
        return PostgresStorage(url)
    path = args.db or os.environ.get("LINKFLOW_DB") or DEFAULT_DB
    if path == ":memory:":
        from ..storage.memory import MemoryStorage

        return MemoryStorage()
    from ..storage.sqlite import SQLiteStorage

    return SQLiteStorage(path)
