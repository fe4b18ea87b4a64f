"""The ``linkflow`` command: run and validate workflows, list node types, inspect and control
stored executions.

Exit codes: 0 success (the execution completed, the document is valid), 1 the execution failed
or was cancelled (or the action was refused), 2 invalid input (every validation detail listed).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .._exceptions import StorageError
from . import _credentials, _executions, _run, _schedule, _serve
from ._common import EXIT_FAILED, EXIT_INVALID, InputError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.command(args)
    except InputError as error:
        print(f"linkflow: {error}", file=sys.stderr)
        return EXIT_INVALID
    except StorageError as error:  # the database cannot be opened, or is of a newer version
        print(f"linkflow: {error}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader went away (`linkflow run … | head`): stop writing, quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="linkflow", description="Run LinkFlow workflows.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    _run.add_commands(commands)
    _executions.add_commands(commands)
    _serve.add_commands(commands)
    _schedule.add_commands(commands)
    _credentials.add_commands(commands)
    return parser
