"""``linkflow credentials add|list|delete``: the credentials in the storage's database.

Data is read from ``--data`` (JSON, or ``@FILE`` so the secret stays out of the shell history)
and never printed: ``add`` and ``list`` show it masked.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import anyio

from ._common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    add_storage_options,
    load_json_argument,
    open_storage,
    print_json,
    print_validation,
)

if TYPE_CHECKING:
    from ..credentials import CredentialStore

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    credentials = commands.add_parser("credentials", help="add, list, delete credentials")
    actions = credentials.add_subparsers(required=True, metavar="ACTION")

    add = actions.add_parser("add", help="store a credential (data encrypted)")
    add.add_argument("name")
    add.add_argument(
        "--type", required=True, help="api_key, bearer_token, basic_auth, oauth2, custom"
    )
    add.add_argument("--data", required=True, help="JSON object, or @FILE to read it from a file")
    add.add_argument("--id", help="default: cred-<random hex>")
    add.set_defaults(command=_add)

    listing = actions.add_parser("list", help="every credential, data masked")
    listing.set_defaults(command=_list)

    delete = actions.add_parser("delete", help="remove a credential")
    delete.add_argument("id")
    delete.set_defaults(command=_delete)

    for parser in (add, listing, delete):
        add_storage_options(parser)


def _add(args: argparse.Namespace) -> int:
    data = load_json_argument(args.data, "--data")

    async def work(store: CredentialStore) -> int:
        created = await store.create(name=args.name, type=args.type, data=data, id=args.id)
        print_json(created.masked())
        return EXIT_OK

    return _with_store(args, work)


def _list(args: argparse.Namespace) -> int:
    async def work(store: CredentialStore) -> int:
        print_json({"credentials": [c.masked() for c in await store.list()]})
        return EXIT_OK

    return _with_store(args, work)


def _delete(args: argparse.Namespace) -> int:
    async def work(store: CredentialStore) -> int:
        await store.delete(args.id)
        print(f"deleted credential {args.id}", file=sys.stderr)
        return EXIT_OK

    return _with_store(args, work)


def _with_store(args: argparse.Namespace, work: Callable[[CredentialStore], Awaitable[int]]) -> int:
    from .._exceptions import LinkflowError, WorkflowValidationError
    from ..credentials import credential_store_for

    async def main() -> int:
        store = credential_store_for(open_storage(args))
        try:
            return await work(store)
        finally:
            await store.aclose()

    try:
        return anyio.run(main)
    except WorkflowValidationError as error:
        print_validation(error)
        return EXIT_INVALID
    except LinkflowError as error:
        print(f"linkflow: {error.message}", file=sys.stderr)
        return EXIT_FAILED
