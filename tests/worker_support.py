"""Shared by the worker scripts that tests start as separate OS processes.

The race tests start several workers with `sys.executable path/to/worker.py ...`; each
opens the same store as the test and waits at a file barrier so that they all begin
at once. Workers put this folder on `sys.path` to import it.
"""

from __future__ import annotations

import time
from pathlib import Path

from resultflow.persistence._kv import KVStore

__all__ = ["open_store", "wait_for_everyone"]


def open_store(config: dict[str, object]) -> KVStore:
    """The store named by `config["backend"]`, opened on the same data as the test's."""
    backend = config["backend"]
    if backend == "file":
        from resultflow.persistence._kv_file import FileKV

        return FileKV(str(config["directory"]), fsync=False)
    if backend == "sqlite":
        from resultflow.persistence._kv_sqlite import SQLiteKV

        return SQLiteKV(str(config["path"]), timeout=30)
    if backend == "postgres":
        from resultflow.persistence._kv_postgres import PostgresKV

        return PostgresKV(str(config["url"]), schema=str(config["schema"]))
    if backend == "redis":
        from resultflow.persistence._kv_redis import RedisKV

        return RedisKV(str(config["url"]), prefix=str(config["prefix"]))
    raise SystemExit(f"unknown backend {backend!r}")


def wait_for_everyone(barrier: Path, name: str, workers: int) -> None:
    """Mark this worker ready, then wait (at most 30 s) until all `workers` are."""
    (barrier / f"ready-{name}").touch()
    deadline = time.monotonic() + 30
    while len(list(barrier.glob("ready-*"))) < workers:
        if time.monotonic() > deadline:
            raise SystemExit("the other workers never got ready")
        # Separate processes share no event loop, so no test clock can release them:
        # poll the barrier folder every millisecond.
        time.sleep(0.001)  # real-sleep-ok
