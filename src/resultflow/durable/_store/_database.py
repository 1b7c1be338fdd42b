"""The two database dialects behind the durable store: SQLite and PostgreSQL.

Each dialect gives transactions (`Database.transaction`) whose `Transaction` runs
parameterized SQL. Queries are written once with `%s` placeholders; the SQLite side
rewrites them to `?` once per distinct query text. `$NOW` in a query stands for the
database's own clock (epoch seconds), so lease expiry never depends on a client's
wall clock. Only constant query text is rewritten; values always travel as parameters.

SQLite runs on one connection per store, in WAL mode with `synchronous=NORMAL` (a
killed process loses nothing; a power cut may lose the last commits — `durability=
"full"` makes every commit wait for the disk). Its calls are quick local writes made
on the event loop; transactions of one process take turns through a lock, and other
processes' writers wait for the file lock (`busy_timeout`).

PostgreSQL runs on a psycopg 3 `AsyncConnectionPool` of autocommit connections,
each transaction an explicit `BEGIN … COMMIT`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, LiteralString, Protocol

from resultflow.durable._errors import DurableStoreError

__all__ = ["Database", "PostgresDatabase", "SQLiteDatabase", "Transaction"]

Row = tuple[Any, ...]


class Transaction(Protocol):
    """Runs SQL inside one open transaction."""

    async def execute(self, query: LiteralString, params: Sequence[object] = ()) -> int:
        """Run `query`; return the number of rows it changed."""
        ...

    async def executemany(self, query: LiteralString, rows: Sequence[Sequence[object]]) -> None:
        """Run `query` once per parameter row."""
        ...

    async def fetchall(self, query: LiteralString, params: Sequence[object] = ()) -> list[Row]:
        """Run `query`; return every row it gives."""
        ...

    async def fetchone(self, query: LiteralString, params: Sequence[object] = ()) -> Row | None:
        """Run `query`; return its first row, or None."""
        ...


class Database(Protocol):
    """A connection (or pool) to one database of one dialect."""

    dialect: Literal["sqlite", "postgres"]

    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[Transaction]:
        """Open a transaction; it commits when the block ends, rolls back on an error."""
        ...

    async def lock_schema(self, tx: Transaction) -> None:
        """Serialise schema migrations across processes for the rest of `tx`."""
        ...

    async def close(self) -> None:
        """Close every connection."""
        ...


# -- SQLite -----------------------------------------------------------------------------

_SQLITE_NOW: LiteralString = "((julianday('now') - 2440587.5) * 86400.0)"


class _SQLiteTransaction:
    __slots__ = ("_conn", "_queries")

    def __init__(self, conn: sqlite3.Connection, queries: dict[str, str]) -> None:
        self._conn = conn
        self._queries = queries

    def _sql(self, query: str) -> str:
        text = self._queries.get(query)
        if text is None:
            text = query.replace("%s", "?").replace("$NOW", _SQLITE_NOW)
            self._queries[query] = text
        return text

    async def execute(self, query: LiteralString, params: Sequence[object] = ()) -> int:
        return self._conn.execute(self._sql(query), params).rowcount

    async def executemany(self, query: LiteralString, rows: Sequence[Sequence[object]]) -> None:
        self._conn.executemany(self._sql(query), rows)

    async def fetchall(self, query: LiteralString, params: Sequence[object] = ()) -> list[Row]:
        return self._conn.execute(self._sql(query), params).fetchall()

    async def fetchone(self, query: LiteralString, params: Sequence[object] = ()) -> Row | None:
        row: Row | None = self._conn.execute(self._sql(query), params).fetchone()
        return row


class SQLiteDatabase:
    """One SQLite file (or `:memory:`) behind one connection shared by this process."""

    dialect: Literal["sqlite", "postgres"] = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        busy_timeout: float = 10.0,
        durability: Literal["normal", "full"] = "normal",
    ) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
            )
            if path != ":memory:":
                # A fresh file's switch to WAL is not covered by the busy handler: when
                # several workers open it at once, the losers retry within busy_timeout.
                deadline = time.monotonic() + busy_timeout
                while True:
                    try:
                        self._conn.execute("PRAGMA journal_mode=WAL")
                        break
                    except sqlite3.OperationalError as exc:
                        if "locked" not in str(exc) or time.monotonic() >= deadline:
                            raise
                        time.sleep(0.005)
            synchronous = "FULL" if durability == "full" else "NORMAL"
            self._conn.execute(f"PRAGMA synchronous={synchronous}")
        except sqlite3.Error as exc:
            raise DurableStoreError(
                f"cannot open the SQLite store at {path!r}: {exc}", backend="sqlite"
            ) from exc
        self._lock = asyncio.Lock()
        self._queries: dict[str, str] = {}
        self._closed = False

    @asynccontextmanager
    async def _transaction(self, write: bool) -> AsyncGenerator[Transaction]:
        if self._closed:
            raise DurableStoreError("the SQLite store is closed", backend="sqlite")
        async with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.Error as exc:
                raise DurableStoreError(
                    f"SQLite store at {self.path!r} is unavailable: {exc}", backend="sqlite"
                ) from exc
            try:
                yield _SQLiteTransaction(self._conn, self._queries)
            except BaseException as exc:
                self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise DurableStoreError(
                        f"SQLite store at {self.path!r} failed: {exc}", backend="sqlite"
                    ) from exc
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._conn.execute("ROLLBACK")
                raise DurableStoreError(
                    f"SQLite store at {self.path!r} could not commit: {exc}", backend="sqlite"
                ) from exc

    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[Transaction]:
        """Open a transaction (`BEGIN IMMEDIATE` when it will write)."""
        return self._transaction(write)

    async def lock_schema(self, tx: Transaction) -> None:
        """Nothing to do: a write transaction already holds SQLite's only write lock."""

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            async with self._lock:
                self._conn.close()


# -- PostgreSQL -------------------------------------------------------------------------

_POSTGRES_NOW: LiteralString = "extract(epoch from clock_timestamp())::double precision"
_SCHEMA_LOCK_ID = 0x72666C6F77  # "rflow": the advisory lock migrations take


class PostgresDatabase:
    """A PostgreSQL database behind a psycopg 3 `AsyncConnectionPool`.

    Args:
        url: a libpq connection URL.
        max_size: the most connections the pool opens.
        connect_timeout: seconds to wait for a connection before `DurableStoreError`.
        statement_timeout: seconds any one statement may run on the server.
    """

    dialect: Literal["sqlite", "postgres"] = "postgres"

    def __init__(
        self,
        url: str,
        *,
        max_size: int = 10,
        connect_timeout: float = 10.0,
        statement_timeout: float = 30.0,
    ) -> None:
        try:
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:  # pragma: no cover - exercised without the extra
            raise ImportError(
                "the PostgreSQL durable store needs psycopg 3 and psycopg_pool: "
                "pip install resultflow[postgres]"
            ) from exc
        self.url = url
        self._connect_timeout = connect_timeout
        from psycopg.conninfo import conninfo_to_dict

        # The URL's own libpq options (a search_path, say) are kept; the timeout joins them.
        given = conninfo_to_dict(url).get("options")
        timeout_option = f"-c statement_timeout={int(statement_timeout * 1000)}"
        options = f"{given} {timeout_option}" if given else timeout_option
        self._pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            timeout=connect_timeout,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, int(connect_timeout)),
                "options": options,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
            },
        )
        self._queries: dict[str, str] = {}
        self._opened = False

    async def open(self) -> None:
        """Open the pool, or raise `DurableStoreError` within `connect_timeout`."""
        from psycopg_pool import PoolTimeout

        if self._opened:
            return
        try:
            await self._pool.open(wait=True, timeout=self._connect_timeout)
        except (PoolTimeout, OSError) as exc:
            await self._pool.close()
            raise DurableStoreError(
                f"PostgreSQL store is unreachable ({_mask(self.url)}): {exc}", backend="postgres"
            ) from exc
        self._opened = True

    @asynccontextmanager
    async def _transaction(self, write: bool) -> AsyncGenerator[Transaction]:
        import psycopg
        from psycopg_pool import PoolClosed, PoolTimeout

        await self.open()
        try:
            async with self._pool.connection() as conn, conn.transaction():
                yield _PostgresTransaction(conn, self._queries)
        except (psycopg.OperationalError, PoolTimeout, PoolClosed) as exc:
            raise DurableStoreError(
                f"PostgreSQL store is unavailable ({_mask(self.url)}): {exc}", backend="postgres"
            ) from exc
        except psycopg.Error as exc:
            raise DurableStoreError(f"PostgreSQL store failed: {exc}", backend="postgres") from exc

    async def listen(self, channel: str, on_notify: Callable[[], None]) -> None:
        """Call `on_notify` for each NOTIFY on `channel`, until cancelled.

        Uses a connection of its own (outside the pool); raises `DurableStoreError`
        when it cannot connect or the connection breaks, so the caller can fall back
        to polling and try again later.
        """
        import psycopg
        from psycopg import sql

        try:
            async with await psycopg.AsyncConnection.connect(
                self.url, autocommit=True, connect_timeout=max(1, int(self._connect_timeout))
            ) as conn:
                await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                async for _ in conn.notifies():
                    on_notify()
        except psycopg.Error as exc:
            raise DurableStoreError(
                f"PostgreSQL notifications stopped ({_mask(self.url)}): {exc}", backend="postgres"
            ) from exc

    def transaction(self, *, write: bool) -> AbstractAsyncContextManager[Transaction]:
        """Open a transaction on a pooled connection."""
        return self._transaction(write)

    async def lock_schema(self, tx: Transaction) -> None:
        """Take the migration advisory lock until `tx` ends."""
        await tx.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_ID,))

    async def close(self) -> None:
        """Close the pool (idempotent)."""
        await self._pool.close()


class _PostgresTransaction:
    __slots__ = ("_conn", "_queries")

    def __init__(self, conn: Any, queries: dict[str, str]) -> None:
        self._conn = conn
        self._queries = queries

    def _sql(self, query: str) -> Any:
        text = self._queries.get(query)
        if text is None:
            text = query.replace("$NOW", _POSTGRES_NOW)
            self._queries[query] = text
        return text

    async def execute(self, query: LiteralString, params: Sequence[object] = ()) -> int:
        cur = await self._conn.execute(self._sql(query), params)
        return int(cur.rowcount)

    async def executemany(self, query: LiteralString, rows: Sequence[Sequence[object]]) -> None:
        async with self._conn.cursor() as cur:
            await cur.executemany(self._sql(query), rows)

    async def fetchall(self, query: LiteralString, params: Sequence[object] = ()) -> list[Row]:
        cur = await self._conn.execute(self._sql(query), params)
        rows: list[Row] = await cur.fetchall()
        return rows

    async def fetchone(self, query: LiteralString, params: Sequence[object] = ()) -> Row | None:
        cur = await self._conn.execute(self._sql(query), params)
        row: Row | None = await cur.fetchone()
        return row


def _mask(url: str) -> str:
    """`url` with any password replaced by `***`, for error messages."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    if ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}@{host}"
