"""``linkflow executions list|show|retry|cancel|prune``: the stored history, from any process
that can open the database (a cancel reaches the process running the execution)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    add_storage_options,
    load_json_argument,
    open_storage,
    print_json,
    print_validation,
    registry,
)

if TYPE_CHECKING:
    from ..runtime import Engine

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    executions = commands.add_parser("executions", help="list, show, retry, cancel, prune")
    actions = executions.add_subparsers(required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="executions, newest first")
    listing.add_argument("--workflow-id")
    listing.add_argument("--status", help="pending, running, paused, completed, failed, cancelled")
    listing.add_argument("--mode", help="manual, schedule, webhook, api, replay")
    listing.add_argument("--started-after", help="ISO-8601 datetime")
    listing.add_argument("--started-before", help="ISO-8601 datetime")
    listing.add_argument("--limit", default="20")
    listing.add_argument("--offset", default="0")
    listing.add_argument("--json", action="store_true", help="JSON instead of a table")
    listing.set_defaults(command=_list)

    show = actions.add_parser("show", help="one execution as JSON")
    show.add_argument("id")
    show.add_argument("--data", action="store_true", help="include node input and output")
    show.set_defaults(command=_show)

    retry = actions.add_parser("retry", help="replay an execution from a node")
    retry.add_argument("id")
    retry.add_argument("--from-node", help="default: the node that failed")
    retry.add_argument("--input-overrides", help="JSON object (or @FILE) merged into its input")
    retry.set_defaults(command=_retry)

    cancel = actions.add_parser("cancel", help="cancel a pending, running or paused execution")
    cancel.add_argument("id")
    cancel.set_defaults(command=_cancel)

    prune = actions.add_parser("prune", help="delete old finished executions")
    prune.add_argument("--older-than", help="e.g. 30d, 12h (finished executions only)")
    prune.add_argument("--keep-last", type=int, help="keep the newest N per workflow")
    prune.set_defaults(command=_prune)

    for action in (listing, show, retry, cancel, prune):
        add_storage_options(action)


def _with_engine(args: argparse.Namespace, work: Callable[[Engine], Awaitable[int]]) -> int:
    """Run ``work`` with an engine on the chosen storage; map our errors to exit codes."""
    import anyio

    from .. import (
        Engine,
        ExecutionConflictError,
        ExecutionNotFoundError,
        WorkflowValidationError,
    )

    async def main() -> int:
        # recover=False: a command looks at the history; it does not adopt orphaned runs.
        async with Engine(open_storage(args), registry(), recover=False) as engine:
            return await work(engine)

    try:
        return anyio.run(main)
    except WorkflowValidationError as error:
        print_validation(error)
        return EXIT_INVALID
    except ExecutionNotFoundError as error:
        print(f"linkflow: {error.message}", file=sys.stderr)
        return EXIT_INVALID
    except ExecutionConflictError as error:
        print(f"linkflow: {error.message}", file=sys.stderr)
        return EXIT_FAILED


def _list(args: argparse.Namespace) -> int:
    async def work(engine: Engine) -> int:
        executions, total = await engine.list_executions(
            workflow_id=args.workflow_id,
            status=args.status,
            mode=args.mode,
            started_after=args.started_after,
            started_before=args.started_before,
            limit=args.limit,
            offset=args.offset,
        )
        if args.json:
            print_json({"executions": [e.summary_dict() for e in executions], "total": total})
            return EXIT_OK
        for execution in executions:
            row = execution.summary_dict()
            duration = "" if row["duration"] is None else f"{row['duration']} ms"
            print(
                f"{row['id']}  {row['status']:<9}  {row['mode']:<8}  {row['startedAt']}  "
                f"{duration:>9}  {row['workflowName'] or row['workflowId'] or ''}"
            )
        print(f"{len(executions)} of {total}", file=sys.stderr)
        return EXIT_OK

    return _with_engine(args, work)


def _show(args: argparse.Namespace) -> int:
    async def work(engine: Engine) -> int:
        execution = await engine.get_execution(args.id, include_data=args.data)
        print_json(execution.to_dict(include_data=args.data))
        return EXIT_OK

    return _with_engine(args, work)


def _retry(args: argparse.Namespace) -> int:
    overrides = load_json_argument(args.input_overrides, "--input-overrides")

    async def work(engine: Engine) -> int:
        replay = await engine.retry(args.id, from_node=args.from_node, input_overrides=overrides)
        print_json(
            {
                "executionId": replay.id,
                "originalExecutionId": replay.original_execution_id,
                "status": replay.status.value,
                "outputs": replay.outputs,
                "error": replay.error.to_dict() if replay.error else None,
            }
        )
        return EXIT_OK if replay.status.value == "completed" else EXIT_FAILED

    return _with_engine(args, work)


def _cancel(args: argparse.Namespace) -> int:
    async def work(engine: Engine) -> int:
        execution = await engine.cancel(args.id)
        print_json(
            {
                "id": execution.id,
                "status": execution.status.value,
                "cancelledAt": execution.to_dict()["cancelledAt"],
            }
        )
        return EXIT_OK

    return _with_engine(args, work)


def _prune(args: argparse.Namespace) -> int:
    async def work(engine: Engine) -> int:
        deleted = await engine.prune(
            older_than=args.older_than, keep_last_per_workflow=args.keep_last
        )
        print(f"deleted {deleted} execution(s)")
        return EXIT_OK

    return _with_engine(args, work)
