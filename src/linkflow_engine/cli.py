"""The ``linkflow`` command: run and validate workflows, list node types.

Exit codes: 0 the execution completed (or the document is valid), 1 it failed or was cancelled,
2 the input was invalid (every validation detail is listed on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["main"]

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class InputError(Exception):
    """A file or argument the command cannot use (exit code 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.command(args)
    except InputError as error:
        print(f"linkflow: {error}", file=sys.stderr)
        return EXIT_INVALID
    except BrokenPipeError:
        # The reader went away (`linkflow run … | head`): stop writing, quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linkflow", description="Run LinkFlow workflows.")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a workflow file and print its execution as JSON")
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
    run.set_defaults(command=_run)

    validate = sub.add_parser("validate", help="check a workflow file; list every problem")
    validate.add_argument("file", type=Path)
    validate.set_defaults(command=_validate)

    nodes = sub.add_parser("nodes", help="list the node types")
    nodes.add_argument("--json", action="store_true", help="print full JSON descriptions")
    nodes.set_defaults(command=_nodes)
    return parser


def _registry() -> Any:
    """The built-in node types plus every installed plugin (entry points)."""
    from . import NodeRegistry

    registry = NodeRegistry()
    registry.load_entry_points()
    return registry


def _read_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{what} is not valid JSON: {error}") from None


def _load_document(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror}") from None
    return _read_json(text, str(path))


def _load_input(value: str | None) -> Any:
    if value is None:
        return None
    if value.startswith("@"):
        return _load_document(Path(value[1:]))
    return _read_json(value, "--input")


def _print_validation(error: Any, out: TextIO) -> None:
    print(f"invalid workflow: {len(error.details)} problem(s)", file=out)
    for detail in error.details:
        print(f"  {detail['field']}: {detail['message']}", file=out)


def _run(args: argparse.Namespace) -> int:
    import anyio

    from . import Engine, WorkflowValidationError

    document = _load_document(args.file)
    input_data = _load_input(args.input)
    progress = _Progress(sys.stderr, quiet=args.quiet)

    async def execute() -> Any:
        env = {name: os.environ[name] for name in args.env if name in os.environ}
        async with Engine(registry=_registry(), env=env) as engine:
            with engine.subscribe(progress.show, inline=True):
                return await engine.execute(document, input_data, start_node_id=args.start_node)

    try:
        execution = anyio.run(execute)
    except WorkflowValidationError as error:
        _print_validation(error, sys.stderr)
        return EXIT_INVALID
    result = execution.to_dict() if args.json else execution.outputs
    json.dump(result, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
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
            self._line(f"{event.type.split('.')[1]} in {payload.get('duration')} ms")

    def _line(self, text: str) -> None:
        print(text, file=self.out, flush=True)


def _validate(args: argparse.Namespace) -> int:
    from . import WorkflowValidationError, validate_workflow

    document = _load_document(args.file)
    try:
        workflow = validate_workflow(document, _registry())
    except WorkflowValidationError as error:
        _print_validation(error, sys.stderr)
        return EXIT_INVALID
    label = workflow.name or workflow.id or args.file.name
    print(f"valid: {label} ({len(workflow.nodes)} nodes)")
    return EXIT_OK


def _nodes(args: argparse.Namespace) -> int:
    registry = _registry()
    if args.json:
        json.dump(registry.describe(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return EXIT_OK
    for node_type in registry.list():
        print(f"{node_type.type:<18} {node_type.category:<9} {node_type.description}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
