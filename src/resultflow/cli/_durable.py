"""The durable engine's commands: `resultflow worker MODULE:ENGINE` and `resultflow db upgrade`.

Bad input never shows a traceback: a module or attribute that cannot be loaded is one
line on stderr and exit code 2; a store that cannot be reached is one line and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
from typing import Protocol

__all__ = ["add_durable_commands", "load_engine", "run_db_upgrade", "run_worker"]


class CommandError(Exception):
    """A command cannot run; `code` is the process exit code (1 failure, 2 bad usage)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Subcommands(Protocol):
    """What `ArgumentParser.add_subparsers()` returns, as far as these commands use it."""

    def add_parser(self, name: str, *, help: str) -> argparse.ArgumentParser:
        """A parser for the subcommand `name`."""
        ...


def add_durable_commands(commands: Subcommands) -> None:
    """Add `worker` and `db` to the `resultflow` parser."""
    worker = commands.add_parser("worker", help="run a durable worker for MODULE:ENGINE")
    worker.add_argument(
        "target", metavar="MODULE:ENGINE", help="where the Engine is, e.g. app.flows:engine"
    )
    worker.add_argument("--concurrency", type=int, default=16, help="executions run at once (16)")
    worker.add_argument("--lease-s", type=float, default=30.0, help="lease seconds (30)")
    worker.add_argument(
        "--grace-s", type=float, default=10.0, help="seconds to finish on SIGTERM (10)"
    )
    worker.add_argument(
        "--poll-interval", type=float, default=0.5, help="seconds between store polls"
    )
    worker.add_argument(
        "--db", default=None, help="store URL (overrides the engine's and RESULTFLOW_DB)"
    )
    db = commands.add_parser("db", help="the durable store's schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="create or upgrade the schema")
    upgrade.add_argument("--db", default=None, help="store URL (default: RESULTFLOW_DB)")


def load_engine(target: str) -> object:
    """The object `target` (`module.path:attribute`) names, importing the module.

    The working directory is importable, as with `python -m`.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"expected MODULE:ENGINE (e.g. app.flows:engine), got {target!r}", 2)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(f"cannot import {module_name!r}: {exc}", 2) from exc
    value: object = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            raise CommandError(f"{module_name!r} has no attribute {attribute!r}", 2)
        value = getattr(value, part)
    return value


def run_worker(args: argparse.Namespace) -> int:
    """`resultflow worker`: serve until SIGTERM (graceful) or Ctrl-C."""
    from resultflow.durable import DurableStoreError, Engine

    try:
        engine = load_engine(args.target)
        if not isinstance(engine, Engine):
            raise CommandError(
                f"{args.target!r} is a {type(engine).__name__}, not a resultflow Engine", 2
            )
        if args.db is not None:
            engine.set_url(args.db)
        worker = engine.worker(
            concurrency=args.concurrency,
            lease_s=args.lease_s,
            grace_s=args.grace_s,
            poll_interval=args.poll_interval,
        )
    except (CommandError, ValueError) as exc:
        print(f"resultflow worker: {exc}", file=sys.stderr)
        return exc.code if isinstance(exc, CommandError) else 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"
    )

    async def serve() -> None:
        try:
            await worker.run()
        finally:
            await engine.close()

    try:
        asyncio.run(serve())
    except DurableStoreError as exc:
        print(f"resultflow worker: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def run_db_upgrade(args: argparse.Namespace) -> int:
    """`resultflow db upgrade`: create or upgrade the durable store's schema."""
    from resultflow.durable import DurableStoreError
    from resultflow.durable._store import open_store

    async def upgrade() -> int:
        store = await open_store(args.db)
        try:
            return await store.schema_version()
        finally:
            await store.close()

    try:
        version = asyncio.run(upgrade())
    except ValueError as exc:
        print(f"resultflow db upgrade: {exc}", file=sys.stderr)
        return 2
    except DurableStoreError as exc:
        print(f"resultflow db upgrade: {exc}", file=sys.stderr)
        return 1
    print(f"schema version {version}")
    return 0
