"""`PostgresKV`: a `KVStore` in one PostgreSQL table (psycopg 3, psycopg_pool).

Needs the `postgres` extra (`pip install resultflow[postgres]`). Give it a URL (it
opens and owns a small `AsyncConnectionPool`), a pool you own and share, or one
`AsyncConnection` (used by one operation at a time). The table is created on first use;
keys and values are stored as UTF-8 `bytea` (so any string, NUL included, fits and
keys compare byte-wise), expiry as wall-clock epoch seconds from the injectable clock.
All SQL is parameterized; the schema and table names are validated identifiers quoted
with `psycopg.sql.Identifier`. `compare_and_set` is one conditional statement (an
`UPDATE` of the expected live value, or an upsert that only replaces an expired row),
which PostgreSQL's row locks make atomic across connections and processes.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final, LiteralString

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg import sql
    from psycopg.rows import tuple_row
    from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout
except ImportError as exc:  # pragma: no cover - exercised by a test that hides psycopg
    raise ImportError(
        "PostgresKV needs psycopg 3 and psycopg_pool: pip install resultflow[postgres]"
    ) from exc

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
from resultflow.persistence._kv_sqlite import check_table_name, prefix_upper_bound

__all__ = ["PostgresKV"]

_BACKEND = "postgres"
_SCAN_BATCH = 500
_LIVE: Final = "(expires_at IS NULL OR expires_at > %s)"

# The row type of a caller's pool or connection is theirs to choose; every query here
# asks for tuple rows explicitly, so any row factory works.
Pool = AsyncConnectionPool[Any]
Connection = psycopg.AsyncConnection[Any]


class PostgresKV:
    """A `KVStore` in the PostgreSQL table `schema.table` (default `resultflow_kv`).

    `url_or_pool`: a connection URL (a pool of up to `max_size` connections is opened on
    first use and closed by `close()`), an `AsyncConnectionPool` (shared, never closed
    here) or an `AsyncConnection` (never closed here). `schema` (created when missing)
    isolates tables; None uses the connection's search path. `connect_timeout` bounds
    how long an operation waits for a connection before `StoreUnavailableError`.
    """

    backend = _BACKEND

    def __init__(
        self,
        url_or_pool: str | Pool | Connection,
        table: str = "resultflow_kv",
        *,
        schema: str | None = None,
        clock: Clock | None = None,
        connect_timeout: float = 10.0,
        max_size: int = 10,
    ) -> None:
        if connect_timeout <= 0 or max_size < 1:
            raise ValueError("connect_timeout must be positive and max_size at least 1")
        self.table = check_table_name(table)
        self.schema = None if schema is None else check_table_name(schema)
        self._target = url_or_pool
        self._url = url_or_pool if isinstance(url_or_pool, str) else None
        self._pool: Pool | None = (
            url_or_pool if isinstance(url_or_pool, AsyncConnectionPool) else None
        )
        self._connection = url_or_pool if isinstance(url_or_pool, psycopg.AsyncConnection) else None
        if self._url is None and self._pool is None and self._connection is None:
            raise TypeError(
                "PostgresKV needs a URL, a psycopg_pool.AsyncConnectionPool or a "
                f"psycopg.AsyncConnection, not {type(url_or_pool).__name__}"
            )
        self._clock = clock or SYSTEM_CLOCK
        self._connect_timeout = connect_timeout
        self._max_size = max_size
        self._ready = False
        self._ready_lock = asyncio.Lock()
        self._connection_lock = asyncio.Lock()
        self._closed = False
        self._name = sql.Identifier(table) if schema is None else sql.Identifier(schema, table)

    @property
    def pool(self) -> Pool | None:
        """The pool in use (the caller's, or the one opened from the URL), if any."""
        return self._pool

    async def get(self, key: str) -> str | None:
        """The value under `key`, or None when missing or expired.

        Raises `CorruptEntryError` when the stored bytes are not UTF-8 (a row written by
        something else).
        """
        query = self._sql(f"SELECT value FROM {{}} WHERE key = %s AND {_LIVE}")
        rows, _ = await self._execute(query, (_encode(check_key(key)), self._clock.now()))
        if not rows:
            return None
        try:
            return _decode(rows[0][0])
        except UnicodeDecodeError as exc:
            raise CorruptEntryError(_BACKEND, key, f"value is not UTF-8: {exc}") from exc

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl` seconds when given."""
        check_key(key)
        check_value(value)
        lifetime = check_ttl(ttl)
        expires_at = None if lifetime is None else self._clock.now() + lifetime
        statement = self._sql(
            "INSERT INTO {} (key, value, expires_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
            "expires_at = EXCLUDED.expires_at"
        )
        await self._execute(statement, (_encode(key), _encode(value), expires_at))

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        statement = self._sql("DELETE FROM {} WHERE key = %s")
        await self._execute(statement, (_encode(check_key(key)),))

    async def exists(self, key: str) -> bool:
        """True when `key` holds a live value."""
        query = self._sql(f"SELECT 1 FROM {{}} WHERE key = %s AND {_LIVE}")
        rows, _ = await self._execute(query, (_encode(check_key(key)), self._clock.now()))
        return bool(rows)

    async def compare_and_set(
        self, key: str, expected: str | None, value: str, ttl: float | None = None
    ) -> bool:
        """Set `key` to `value` if it holds exactly `expected` (None: missing or expired).

        One statement, so atomic also against other connections and processes.
        """
        check_key(key)
        if expected is not None:
            check_value(expected)
        check_value(value)
        lifetime = check_ttl(ttl)
        now = self._clock.now()
        expires_at = None if lifetime is None else now + lifetime
        if expected is None:
            # Insert, or replace a row that has expired; a live row stays as it is.
            statement = self._sql(
                "INSERT INTO {} AS stored (key, value, expires_at) VALUES (%s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, "
                "expires_at = EXCLUDED.expires_at "
                "WHERE stored.expires_at IS NOT NULL AND stored.expires_at <= %s"
            )
            params: tuple[object, ...] = (_encode(key), _encode(value), expires_at, now)
        else:
            statement = self._sql(
                "UPDATE {} SET value = %s, expires_at = %s "
                f"WHERE key = %s AND value = %s AND {_LIVE}"
            )
            params = (_encode(value), expires_at, _encode(key), _encode(expected), now)
        _, count = await self._execute(statement, params)
        return count == 1

    async def scan(self, prefix: str = "") -> AsyncIterator[str]:
        """Iterate over the live keys starting with `prefix`, in byte order, batch by batch."""
        low = _encode(check_key(prefix))
        high = prefix_upper_bound(low)
        upper: LiteralString = "" if high is None else " AND key < %s"
        upper_params = () if high is None else (high,)
        operator: LiteralString = ">="  # the first batch includes the prefix itself
        start = low
        while True:
            query = self._sql(
                f"SELECT key FROM {{}} WHERE key {operator} %s{upper} AND {_LIVE} "
                "ORDER BY key LIMIT %s"
            )
            params = (start, *upper_params, self._clock.now(), _SCAN_BATCH)
            rows, _ = await self._execute(query, params)
            for row in rows:
                try:
                    key = _decode(row[0])
                except UnicodeDecodeError:
                    continue  # not UTF-8: written by something else, not a key of ours
                yield key
            if len(rows) < _SCAN_BATCH:
                return
            start, operator = _as_bytes(rows[-1][0]), ">"

    async def purge_expired(self) -> int:
        """Delete the rows of expired keys and return how many were removed."""
        statement = self._sql("DELETE FROM {} WHERE expires_at IS NOT NULL AND expires_at <= %s")
        _, count = await self._execute(statement, (self._clock.now(),))
        return count

    async def close(self) -> None:
        """Close the pool this store opened; a caller's pool or connection stays open."""
        if self._closed:
            return
        self._closed = True
        if self._url is not None and self._pool is not None:
            await self._pool.close()

    def __repr__(self) -> str:
        where = self.table if self.schema is None else f"{self.schema}.{self.table}"
        return f"PostgresKV(table={where!r})"

    # -- connections ----------------------------------------------------------------

    def _sql(self, template: LiteralString) -> sql.Composed:
        return sql.SQL(template).format(self._name)

    async def _execute(
        self, query: sql.Composed, params: tuple[object, ...]
    ) -> tuple[list[tuple[object, ...]], int]:
        """Run one statement; return its rows (empty without a result set) and rowcount."""
        if self._closed:
            raise StoreClosedError(_BACKEND)
        try:
            await self._prepare()
            async with self._connect() as connection:
                cursor = connection.cursor(row_factory=tuple_row)
                await cursor.execute(query, params)
                rows = await cursor.fetchall() if cursor.description is not None else []
                return [tuple(row) for row in rows], cursor.rowcount
        except StoreError:
            raise
        except (psycopg.OperationalError, PoolTimeout, PoolClosed) as exc:
            raise StoreUnavailableError(_BACKEND, _describe(exc)) from exc
        except psycopg.Error as exc:
            raise StoreError(_BACKEND, _describe(exc)) from exc

    @asynccontextmanager
    async def _connect(self) -> AsyncGenerator[Connection]:
        if self._pool is not None:
            async with self._pool.connection(timeout=self._connect_timeout) as connection:
                yield connection
            return
        assert self._connection is not None
        async with self._connection_lock:
            connection = self._connection
            try:
                yield connection
            except BaseException:
                if not connection.autocommit and not connection.closed:
                    await connection.rollback()
                raise
            if not connection.autocommit:
                await connection.commit()

    async def _prepare(self) -> None:
        """Create the schema and table once, and open the pool when given a URL."""
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                if self._url is not None:
                    await self._prepare_from_url(self._url)
                else:
                    async with self._connect() as connection:
                        await self._create_table(connection)
                self._ready = True

    async def _prepare_from_url(self, url: str) -> None:
        # A direct connection first: it fails at once when the server is down, where a
        # pool would keep retrying in the background until its timeout.
        timeout = max(1, math.ceil(self._connect_timeout))
        async with await psycopg.AsyncConnection.connect(
            url, autocommit=True, connect_timeout=timeout
        ) as connection:
            await self._create_table(connection)
        pool: Pool = AsyncConnectionPool(
            url,
            open=False,
            min_size=1,
            max_size=self._max_size,
            kwargs={"autocommit": True},
            timeout=self._connect_timeout,
            name=f"resultflow-kv-{self.table}",
        )
        await pool.open()
        self._pool = pool

    async def _create_table(self, connection: Connection) -> None:
        cursor = connection.cursor(row_factory=tuple_row)
        if self.schema is not None:
            await cursor.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,))
            if await cursor.fetchone() is None:
                await self._ignore_races(
                    cursor,
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema)),
                )
        await self._ignore_races(
            cursor,
            self._sql(
                "CREATE TABLE IF NOT EXISTS {} "
                "(key bytea PRIMARY KEY, value bytea NOT NULL, expires_at double precision)"
            ),
        )
        if not connection.autocommit:
            await connection.commit()

    async def _ignore_races(
        self, cursor: psycopg.AsyncCursor[tuple[Any, ...]], statement: sql.Composed
    ) -> None:
        # Two stores creating the same object at once: `IF NOT EXISTS` can still lose
        # the race on the catalog's unique index. The other one made it; that is fine.
        connection = cursor.connection
        try:
            if connection.autocommit:
                await cursor.execute(statement)
            else:
                async with connection.transaction():
                    await cursor.execute(statement)
        except (pg_errors.UniqueViolation, pg_errors.DuplicateTable, pg_errors.DuplicateSchema):
            pass


def _encode(text: str) -> bytes:
    return text.encode("utf-8")


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, bytes):
        return raw
    if isinstance(raw, memoryview):
        return raw.tobytes()
    raise StoreError(_BACKEND, f"expected bytea, got {type(raw).__name__}")


def _decode(raw: object) -> str:
    return _as_bytes(raw).decode("utf-8")


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'no detail'}"
