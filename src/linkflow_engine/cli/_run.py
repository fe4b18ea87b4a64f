"""``linkflow run``, ``linkflow validate`` and ``linkflow nodes``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from ._common import (
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    add_storage_options,
    load_document,
    load_json_argument,
    open_storage,
    print_json,
    print_validation,
    registry,
)

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    run = commands.add_parser("run", help="run a workflow file and print its outputs as JSON")
    run.add_argument("file", type=Path, help="the workflow document (JSON)")
    run.add_argument("--input", help="input data: JSON text, or @FILE to read it from a file")
    run.add_argument("--start-node", help="start at this node id instead of the trigger")
    run.add_argument(
        "--json", action="store_true", help="print the whole execution record, not only outputs"
    )
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    run.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME",
        help="expose environment variable NAME to expressions as $env.NAME (repeatable)",
    )
    add_storage_options(run)
    run.set_defaults(command=_run)

    validate = commands.add_parser("validate", help="check a workflow file; list every problem")
    validate.add_argument("file", type=Path)
    validate.set_defaults(command=_validate)

    nodes = commands.add_parser("nodes", help="list the node types")
    nodes.add_argument("--json", action="store_true", help="print full JSON descriptions")
    nodes.set_defaults(command=_nodes)


def _run(args: argparse.Namespace) -> int:
    import anyio

    from .. import Engine, WorkflowValidationError

    document = load_document(args.file)
    input_data = load_json_argument(args.input, "--input")
    progress = _Progress(sys.stderr, quiet=args.quiet)
    env = {name: os.environ[name] for name in args.env if name in os.environ}

    async def execute() -> Any:
        async with Engine(open_storage(args), registry(), env=env) as engine:
            with engine.subscribe(progress.show, inline=True):
                return await engine.execute(document, input_data, start_node_id=args.start_node)

    try:
        execution = anyio.run(execute)
    except WorkflowValidationError as error:
        print_validation(error)
        return EXIT_INVALID
    print_json(execution.to_dict() if args.json else execution.outputs)
    return EXIT_OK if execution.status.value == "completed" else EXIT_FAILED


class _Progress:
    """One line per node on stderr: status, name, duration; a failure's error in full."""

    def __init__(self, out: TextIO, *, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet

    def show(self, event: Any) -> None:
        if self.quiet:
            return
        payload = event.payload
        name = payload.get("nodeName")
        if event.type == "execution.node.completed":
            self._line(f"  ok       {name}  ({payload.get('duration')} ms)")
        elif event.type == "execution.node.skipped":
            self._line(f"  skipped  {name}")
        elif event.type == "execution.node.failed":
            error = payload.get("error") or {}
            self._line(f"  FAILED   {name}: [{error.get('code')}] {error.get('message')}")
            if error.get("details") is not None:
                self._line(f"           details: {json.dumps(error['details'], default=str)}")
        elif event.type in ("execution.completed", "execution.failed", "execution.cancelled"):
            outcome = event.type.split(".")[1]
            self._line(f"{outcome} in {payload.get('duration')} ms ({event.execution_id})")

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _validate(args: argparse.Namespace) -> int:
    from .. import WorkflowValidationError, validate_workflow

    document = load_document(args.file)
    try:
        workflow = validate_workflow(document, registry())
    except WorkflowValidationError as error:
        print_validation(error)
        return EXIT_INVALID
    label = workflow.name or workflow.id or args.file.name
    print(f"valid: {label} ({len(workflow.nodes)} nodes)")
    return EXIT_OK


def _nodes(args: argparse.Namespace) -> int:
    known = registry()
    if args.json:
        print_json(known.describe())
        return EXIT_OK
    for node_type in known.list():
        print(f"{node_type.type:<18} {node_type.category:<9} {node_type.description}")
    return EXIT_OK
