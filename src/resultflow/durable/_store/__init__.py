"""The durable engine's store (private): one interface, SQLite and PostgreSQL dialects."""

from __future__ import annotations

from resultflow.durable._store._database import PostgresDatabase, SQLiteDatabase
from resultflow.durable._store._records import (
    Checkpoint,
    ConflictPolicy,
    ExecutionQuery,
    ExecutionRecord,
    LeaseLost,
    NewExecution,
    NewHistory,
    TaskRecord,
)
from resultflow.durable._store._store import NOTIFY_CHANNEL, DurableStore
from resultflow.durable._store._url import DEFAULT_URL, StoreURL, parse_store_url

__all__ = [
    "DEFAULT_URL",
    "NOTIFY_CHANNEL",
    "Checkpoint",
    "ConflictPolicy",
    "DurableStore",
    "ExecutionQuery",
    "ExecutionRecord",
    "LeaseLost",
    "NewExecution",
    "NewHistory",
    "PostgresDatabase",
    "SQLiteDatabase",
    "StoreURL",
    "TaskRecord",
    "open_store",
    "parse_store_url",
]


async def open_store(url: str | None = None) -> DurableStore:
    """Open (and create or upgrade) the store at `url`; see `parse_store_url`."""
    parsed = parse_store_url(url)
    if parsed.dialect == "sqlite":
        store = DurableStore(SQLiteDatabase(parsed.target))
    else:
        store = DurableStore(PostgresDatabase(parsed.target))
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    return store
