"""`SQLiteKV`: a `KVStore` in one SQLite table (stdlib `sqlite3`, WAL mode).

All database work runs on one dedicated thread that owns the connection, so the event
loop never blocks and SQLite sees a single writer per store. Several processes may
share a file: WAL mode lets readers run alongside the writer, and `timeout` is how long
a write waits for another process's lock. Keys are stored as UTF-8 BLOBs (so any
string, NUL included, compares byte-wise), values as TEXT, expiry as wall-clock epoch
seconds read from the injectable clock. `compare_and_set` is one conditional statement
(an `UPDATE` of the expected live value, or an upsert that only replaces an expired
row), so SQLite's write lock makes it atomic across processes.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.persistence._kv import (
    CorruptEntryError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    check_key,
    check_ttl,
    check_value,
)

__all__ = ["SQLiteKV", "check_table_name", "prefix_upper_bound"]

_BACKEND = "sqlite"
_TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SCAN_BATCH = 500
_Out = TypeVar("_Out")


class SQLiteKV:
    """A `KVStore` in the SQLite database at `path` (a file, or ":memory:").

    The table is created on first use; the database runs in WAL mode, and all work
    runs on one thread owned by the store.

    Args:
        path: The database file (created when missing), or ":memory:" for a private
            in-memory database.
        table: The table name (a plain identifier).
        clock: Where expiry times are read (wall-clock seconds); the system clock by
            default, a `TestClock` in tests.
        timeout: Seconds a write waits for a lock held by another connection before
            the operation fails.

    Raises:
        ValueError: `table` is not a plain identifier.
    """

    backend = _BACKEND

    def __init__(
        self,
        path: str | os.PathLike[str],
        table: str = "resultflow_kv",
        *,
        clock: Clock | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.path = os.fspath(path)
        self.table = check_table_name(table)
        self._quoted = f'"{self.table}"'
        self._clock = clock or SYSTEM_CLOCK
        self._timeout = timeout
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    async def get(self, key: str) -> str | None:
        """The value under `key`, or None when missing or expired.

        Raises `CorruptEntryError` when the stored value is not UTF-8 text (a row written
        by something else).
        """
        encoded = check_key(key).encode("utf-8")
        # Read the raw bytes: sqlite3 would fail on invalid UTF-8 TEXT with a generic
        # error, and would hand back a BLOB value as bytes.
        query = f"SELECT CAST(value AS BLOB) FROM {self._quoted} WHERE key = ? AND {_LIVE}"
        row = await self._run(lambda db: db.execute(query, (encoded, self._now())).fetchone())
        if row is None:
            return None
        raw = row[0]
        try:
            return bytes(raw).decode("utf-8")
        except (TypeError, UnicodeDecodeError) as exc:
            raise CorruptEntryError(_BACKEND, key, f"value is not UTF-8 text: {exc}") from exc

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl` seconds when given."""
        encoded = check_key(key).encode("utf-8")
        check_value(value)
        lifetime = check_ttl(ttl)
        expires_at = None if lifetime is None else self._now() + lifetime
        statement = (
            f"INSERT INTO {self._quoted} (key, value, expires_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "expires_at = excluded.expires_at"
        )
        await self._run(lambda db: db.execute(statement, (encoded, value, expires_at)))

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        encoded = check_key(key).encode("utf-8")
        statement = f"DELETE FROM {self._quoted} WHERE key = ?"
        await self._run(lambda db: db.execute(statement, (encoded,)))

    async def exists(self, key: str) -> bool:
        """True when `key` holds a live value."""
        encoded = check_key(key).encode("utf-8")
        query = f"SELECT 1 FROM {self._quoted} WHERE key = ? AND {_LIVE}"
        row = await self._run(lambda db: db.execute(query, (encoded, self._now())).fetchone())
        return row is not None

    async def compare_and_set(
        self, key: str, expected: str | None, value: str, ttl: float | None = None
    ) -> bool:
        """Set `key` to `value` if it holds exactly `expected` (None: missing or expired).

        One statement, so atomic also against other processes sharing the file.
        """
        encoded = check_key(key).encode("utf-8")
        if expected is not None:
            check_value(expected)
        check_value(value)
        lifetime = check_ttl(ttl)
        now = self._now()
        expires_at = None if lifetime is None else now + lifetime
        if expected is None:
            # Insert, or replace a row that has expired; a live row stays as it is.
            statement = (
                f"INSERT INTO {self._quoted} (key, value, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                f"expires_at = excluded.expires_at WHERE {self._quoted}.expires_at IS NOT NULL "
                f"AND {self._quoted}.expires_at <= ?"
            )
            params: tuple[object, ...] = (encoded, value, expires_at, now)
        else:
            # Compared as bytes, as `get` reads them: a UTF-8 BLOB row matches its text.
            statement = (
                f"UPDATE {self._quoted} SET value = ?, expires_at = ? "
                f"WHERE key = ? AND CAST(value AS BLOB) = ? AND {_LIVE}"
            )
            params = (value, expires_at, encoded, expected.encode("utf-8"), now)
        cursor = await self._run(lambda db: db.execute(statement, params))
        return cursor.rowcount == 1

    async def scan(self, prefix: str = "") -> AsyncIterator[str]:
        """Iterate over the live keys starting with `prefix`, in byte order, batch by batch."""
        low = check_key(prefix).encode("utf-8")
        high = prefix_upper_bound(low)
        upper, upper_params = ("", ()) if high is None else (" AND key < ?", (high,))
        start, operator = low, ">="  # the first batch includes the prefix itself
        while True:
            query = (
                f"SELECT key FROM {self._quoted} WHERE key {operator} ?{upper} AND {_LIVE} "
                f"ORDER BY key LIMIT {_SCAN_BATCH}"
            )
            params = (start, *upper_params, self._now())
            rows = await self._run(partial(_fetch_keys, query=query, params=params))
            for raw in rows:
                try:
                    key = raw.decode("utf-8")
                except UnicodeDecodeError:
                    continue  # not UTF-8: written by something else, not a key of ours
                yield key
            if len(rows) < _SCAN_BATCH:
                return
            start, operator = rows[-1], ">"

    async def purge_expired(self) -> int:
        """Delete the rows of expired keys and return how many were removed."""
        statement = f"DELETE FROM {self._quoted} WHERE expires_at IS NOT NULL AND expires_at <= ?"
        cursor = await self._run(lambda db: db.execute(statement, (self._now(),)))
        return cursor.rowcount

    async def journal_mode(self) -> str:
        """The journal mode SQLite reports ("wal" for files, "memory" for ":memory:")."""
        row = await self._run(lambda db: db.execute("PRAGMA journal_mode").fetchone())
        return str(row[0]).lower()

    async def close(self) -> None:
        """Close the connection and stop the store's thread."""
        if self._closed:
            return
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return
        connection, self._connection = self._connection, None
        if connection is not None:
            await asyncio.get_running_loop().run_in_executor(executor, connection.close)
        executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"SQLiteKV({self.path!r}, table={self.table!r})"

    def _now(self) -> float:
        return self._clock.now()

    async def _run(self, work: Callable[[sqlite3.Connection], _Out]) -> _Out:
        if self._closed:
            raise StoreClosedError(_BACKEND)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="resultflow-sqlite")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._work_on_thread, work)

    def _work_on_thread(self, work: Callable[[sqlite3.Connection], _Out]) -> _Out:
        connection = self._connection or self._connect()
        try:
            return work(connection)
        except sqlite3.Error as exc:
            raise StoreError(_BACKEND, f"{type(exc).__name__}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreUnavailableError(_BACKEND, f"cannot open {self.path!r}: {exc}") from exc
        # Switching a new file to WAL takes a lock that SQLite does not wait for (no
        # busy handler): when two connections open a fresh file at once, one gets
        # "database is locked" at once. Retry that for up to `timeout` (this runs on
        # the store's worker thread, so sleeping blocks no event loop).
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._quoted} "
                    "(key BLOB PRIMARY KEY, value TEXT NOT NULL, expires_at REAL) WITHOUT ROWID"
                )
                break
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) and time.monotonic() < deadline:
                    time.sleep(0.005)
                    continue
                connection.close()
                raise StoreUnavailableError(_BACKEND, f"cannot use {self.path!r}: {exc}") from exc
            except sqlite3.Error as exc:
                connection.close()
                raise StoreUnavailableError(_BACKEND, f"cannot use {self.path!r}: {exc}") from exc
        self._connection = connection
        return connection


_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def check_table_name(name: object) -> str:
    """Return `name` if it is a plain SQL identifier (letters, digits, `_`), else ValueError."""
    if not isinstance(name, str) or _TABLE_NAME.fullmatch(name) is None:
        raise ValueError(f"table and schema names must match {_TABLE_NAME.pattern} (got {name!r})")
    return name


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string that starts with `prefix` (None: none).

    UTF-8 never contains 0xFF, so incrementing the last byte of a UTF-8 prefix is
    enough; a prefix ending in 0xFF bytes drops them first.
    """
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def _fetch_keys(db: sqlite3.Connection, query: str, params: tuple[object, ...]) -> list[bytes]:
    return [bytes(row[0]) for row in db.execute(query, params).fetchall()]
