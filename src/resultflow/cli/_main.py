"""The `resultflow` command line: `demo`, `worker`, `db upgrade`, `version`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from resultflow._version import __version__
from resultflow.cli._durable import add_durable_commands, run_db_upgrade, run_worker

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="resultflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run the sample order workflow on SQLite")
    demo.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temp file)")
    commands.add_parser("version", help="print the version")
    add_durable_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"resultflow {__version__}")
        return 0
    if args.command == "demo":
        from resultflow.cli._demo import run_demo

        return asyncio.run(run_demo(args.db))
    if args.command == "worker":
        return run_worker(args)
    if args.command == "db":
        return run_db_upgrade(args)
    return 2  # pragma: no cover - argparse rejects unknown commands first


if __name__ == "__main__":
    sys.exit(main())
