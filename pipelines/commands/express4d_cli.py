"""The ``express4d`` command line: ``express4d data|generate|stream|evaluate|render|export|demo ...``.

One module per command in this folder, each with ``add_parser(subparsers)`` and the function it runs;
they import their heavy dependencies only when they run, so ``express4d --help`` stays instant.
The CLI prints; library code logs.  Imports here are absolute: ``python -m pipelines.cli`` (the old
path) runs this file's code as ``__main__``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from pipelines.commands import data, demo, evaluate, export, generate, render, stream

COMMANDS = (data, generate, stream, evaluate, render, export, demo)
"""The command modules, in the order ``express4d --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="express4d", description="Text-to-facial-motion on the Express4D corpus.")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library log messages")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError) as e:  # missing or unwritable files, bad values: a message, not a traceback
        print(f"express4d {args.command}: error: {describe_error(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: every file is written aside and renamed, so nothing half-written is left
        print(f"express4d {args.command}: interrupted; the files finished before stay, no partial file was left",
              file=sys.stderr)
        return 130


def describe_error(error: Exception) -> str:
    """One line for a person: an ``OSError`` as ``<file>: <what happened>`` instead of Python's ``[Errno 13] ...``."""
    if isinstance(error, OSError) and error.strerror and str(error).startswith("[Errno"):
        where = error.filename if error.filename is not None else ""
        also = f" -> {error.filename2}" if error.filename2 is not None else ""
        return f"{where}{also}: {error.strerror.lower()}" if where else error.strerror
    return str(error)


__all__ = ["COMMANDS", "build_parser", "describe_error", "main"]


if __name__ == "__main__":
    sys.exit(main())
