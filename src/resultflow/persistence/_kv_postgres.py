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

Design decisions:

- Keys of any length. A btree index entry must fit in about 2.7 KB, so the key itself
  is not indexed: the primary key is `key_hash`, a column PostgreSQL generates as
  `sha256(key)`, and every lookup compares the hash and then the key. Scans use an
  index on the first 1024 bytes of the key (plus the hash, for a total order), so a
  prefix scan still reads only the matching rows. A table made by an earlier
  version (primary key on `key`) is migrated on first use, in one transaction under
  an exclusive lock (needs PostgreSQL 12 or later).
- Every operation is bounded by `operation_timeout`: the statement runs in an inner
  task; when it has not answered in time (a stalled network, a server that hangs) or
  the caller cancels, the connection's socket is shut down, so the driver fails at
  once instead of spending up to 10 s on its own cancel request, and the connection
  is discarded. The caller gets `StoreUnavailableError` (or its cancellation) within
  the bound. Pools opened from a URL also turn on TCP keepalives and
  `tcp_user_timeout`, so a dead peer is noticed by idle connections too.
- A caller's connection that is not in autocommit mode keeps its own transaction:
  each operation runs in `connection.transaction()`, which is a transaction of the
  store's own when the connection is idle (committed at the end) and a savepoint
  inside the caller's pending transaction (released or rolled back to, never
  committing or rolling back the caller's work).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import socket
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Final, LiteralString, TypeVar, cast

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo
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
# A lookup by key: the indexed hash finds the row, the key itself confirms it.
_BY_KEY: Final = "key_hash = %s AND key = %s"
# Bytes of the key in the scan index: its entries must stay far below btree's ~2.7 KB.
_SCAN_BYTES: Final = 1024
_SCAN_PART: Final = "substring(key from 1 for 1024)"
# After the socket is shut down the driver fails at once; this only guards against a
# driver that would not (the inner task is then cancelled rather than awaited forever).
_SETTLE_SECONDS = 2.0
_T = TypeVar("_T")

# The row type of a caller's pool or connection is theirs to choose; every query here
# asks for tuple rows explicitly, so any row factory works.
Pool = AsyncConnectionPool[Any]
Connection = psycopg.AsyncConnection[Any]


class PostgresKV:
    """A `KVStore` in the PostgreSQL table `schema.table` (default `resultflow_kv`).

    Keys may be of any length (the table indexes their SHA-256); every operation ends
    within `connect_timeout + operation_timeout` seconds, with `StoreUnavailableError`
    when the server does not answer.

    Args:
        url_or_pool: A connection URL (a pool of up to `max_size` connections is opened
            on first use and closed by `close()`), an `AsyncConnectionPool` (shared,
            never closed here) or an `AsyncConnection` (never closed here; used by one
            operation at a time). A connection with autocommit off may be inside the
            caller's transaction: operations then run in savepoints and never commit or
            roll back the caller's work.
        table: The table name (a plain identifier); created on first use, and migrated
            when an earlier version created it.
        schema: The schema of the table (created when missing); None uses the
            connection's search path.
        clock: Where expiry times are read (wall-clock seconds); the system clock by
            default.
        connect_timeout: Seconds to wait for a connection (connecting, or a free
            connection of the pool) before `StoreUnavailableError`.
        operation_timeout: Seconds one statement may take once connected; past it the
            connection is shut down and discarded and `StoreUnavailableError` raised.
            A caller's connection is then closed too: reconnect it.
        max_size: The most connections of the pool opened from a URL.

    Raises:
        TypeError: `url_or_pool` is none of the three accepted kinds.
        ValueError: A bad table or schema name, a timeout that is not a positive
            finite number, or `max_size` below 1.
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
        operation_timeout: float = 30.0,
        max_size: int = 10,
    ) -> None:
        connect_timeout = _positive_seconds("connect_timeout", connect_timeout)
        operation_timeout = _positive_seconds("operation_timeout", operation_timeout)
        if isinstance(max_size, bool) or not isinstance(cast("object", max_size), int):
            raise ValueError(f"max_size must be an int of at least 1, got {max_size!r}")
        if max_size < 1:
            raise ValueError(f"max_size must be an int of at least 1, got {max_size!r}")
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
        self._connect_timeout = float(connect_timeout)
        self._operation_timeout = float(operation_timeout)
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
        query = self._sql(f"SELECT value FROM {{}} WHERE {_BY_KEY} AND {_LIVE}")
        rows, _ = await self._execute(query, (*_key_params(check_key(key)), self._clock.now()))
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
            "ON CONFLICT (key_hash) DO UPDATE SET value = EXCLUDED.value, "
            "expires_at = EXCLUDED.expires_at"
        )
        await self._execute(statement, (_encode(key), _encode(value), expires_at))

    async def delete(self, key: str) -> None:
        """Forget `key`."""
        statement = self._sql(f"DELETE FROM {{}} WHERE {_BY_KEY}")
        await self._execute(statement, _key_params(check_key(key)))

    async def exists(self, key: str) -> bool:
        """True when `key` holds a live value."""
        query = self._sql(f"SELECT 1 FROM {{}} WHERE {_BY_KEY} AND {_LIVE}")
        rows, _ = await self._execute(query, (*_key_params(check_key(key)), self._clock.now()))
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
                "ON CONFLICT (key_hash) DO UPDATE SET value = EXCLUDED.value, "
                "expires_at = EXCLUDED.expires_at "
                "WHERE stored.expires_at IS NOT NULL AND stored.expires_at <= %s"
            )
            params: tuple[object, ...] = (_encode(key), _encode(value), expires_at, now)
        else:
            statement = self._sql(
                "UPDATE {} SET value = %s, expires_at = %s "
                f"WHERE {_BY_KEY} AND value = %s AND {_LIVE}"
            )
            params = (_encode(value), expires_at, *_key_params(key), _encode(expected), now)
        _, count = await self._execute(statement, params)
        return count == 1

    async def scan(self, prefix: str = "") -> AsyncIterator[str]:
        """Iterate over the live keys starting with `prefix`, batch by batch.

        Keys come in byte order of their first 1024 bytes (the scan index); keys that
        share those come in the order of their hash.
        """
        wanted = _encode(check_key(prefix))
        # The index holds each key's first 1024 bytes: select by the prefix's first
        # 1024 bytes there, and compare a longer prefix in full on the rows found.
        low = wanted[:_SCAN_BYTES]
        high = prefix_upper_bound(low)
        upper: LiteralString = "" if high is None else f" AND {_SCAN_PART} < %s"
        upper_params = () if high is None else (high,)
        whole: LiteralString = ""
        whole_params: tuple[object, ...] = ()
        if len(wanted) > _SCAN_BYTES:
            whole, whole_params = " AND substring(key from 1 for %s) = %s", (len(wanted), wanted)
        after: tuple[object, ...] | None = None
        while True:
            if after is None:
                where: LiteralString = f"{_SCAN_PART} >= %s"
                start: tuple[object, ...] = (low,)
            else:
                where, start = f"({_SCAN_PART}, key_hash) > (%s, %s)", after
            query = self._sql(
                f"SELECT key, {_SCAN_PART}, key_hash FROM {{}} "
                f"WHERE {where}{upper}{whole} AND {_LIVE} "
                f"ORDER BY {_SCAN_PART}, key_hash LIMIT %s"
            )
            params = (*start, *upper_params, *whole_params, self._clock.now(), _SCAN_BATCH)
            rows, _ = await self._execute(query, params)
            for row in rows:
                try:
                    key = _decode(row[0])
                except UnicodeDecodeError:
                    continue  # not UTF-8: written by something else, not a key of ours
                yield key
            if len(rows) < _SCAN_BATCH:
                return
            after = (_as_bytes(rows[-1][1]), _as_bytes(rows[-1][2]))

    async def server_time(self) -> float:
        """The database server's clock, in epoch seconds (`clock_timestamp()`).

        For callers whose hosts' clocks may disagree (HITL run claims): unlike the
        injectable `clock`, every client reads the same time here.
        """
        query = sql.SQL("SELECT extract(epoch FROM clock_timestamp())::double precision")
        rows, _ = await self._execute(query.format(), ())
        return float(cast("float", rows[0][0]))

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

        async def statement(connection: Connection) -> tuple[list[tuple[object, ...]], int]:
            cursor = connection.cursor(row_factory=tuple_row)
            await cursor.execute(query, params)
            rows = await cursor.fetchall() if cursor.description is not None else []
            return [tuple(row) for row in rows], cursor.rowcount

        try:
            await self._prepare()
            async with self._connect() as connection:
                return await self._bounded(connection, statement)
        except StoreError:
            raise
        except pg_errors.UndefinedTable as exc:
            # Dropped behind our back, or created in a caller's transaction that was
            # rolled back: create it again on the next call.
            self._ready = False
            raise StoreError(_BACKEND, _describe(exc)) from exc
        except (psycopg.OperationalError, PoolTimeout, PoolClosed) as exc:
            raise StoreUnavailableError(_BACKEND, _describe(exc)) from exc
        except psycopg.Error as exc:
            raise StoreError(_BACKEND, _describe(exc)) from exc

    async def _bounded(
        self, connection: Connection, work: Callable[[Connection], Awaitable[_T]]
    ) -> _T:
        """Run `work(connection)` in its own transaction scope, within `operation_timeout`.

        `connection.transaction()` commits a transaction of its own when the connection
        is idle and not autocommit, and is a savepoint inside a caller's transaction.
        The work runs in an inner task so that a timeout or a cancellation does not go
        through the driver's own cancel request (up to 10 s on a stalled network): the
        socket is shut down instead, which makes the driver fail at once.
        """

        async def scoped() -> _T:
            if connection.autocommit:
                return await work(connection)
            async with connection.transaction():
                return await work(connection)

        inner = asyncio.ensure_future(scoped())
        try:
            await asyncio.wait({inner}, timeout=self._operation_timeout)
        except asyncio.CancelledError:
            if inner.done():  # it finished first: the connection is in a clean state
                await _settle(inner)
            else:
                await _abandon(connection, inner)
            raise
        if not inner.done():
            await _abandon(connection, inner)
            raise StoreUnavailableError(
                _BACKEND,
                f"no answer within operation_timeout={self._operation_timeout:g} s "
                "(the connection was closed)",
            )
        return inner.result()

    @asynccontextmanager
    async def _connect(self) -> AsyncGenerator[Connection]:
        if self._pool is not None:
            async with self._pool.connection(timeout=self._connect_timeout) as connection:
                yield connection
            return
        assert self._connection is not None
        try:
            async with asyncio.timeout(self._connect_timeout + self._operation_timeout):
                await self._connection_lock.acquire()
        except TimeoutError as exc:
            detail = "the connection stayed busy with other operations"
            raise StoreUnavailableError(_BACKEND, detail) from exc
        try:
            yield self._connection
        finally:
            self._connection_lock.release()

    async def _prepare(self) -> None:
        """Create (or migrate) the schema and table once, and open the pool from a URL."""
        if self._ready:
            return
        async with self._ready_lock:
            if not self._ready:
                if self._url is not None and self._pool is None:
                    await self._prepare_from_url(self._url)
                else:
                    async with self._connect() as connection:
                        await self._bounded(connection, self._create_table)
                self._ready = True

    async def _prepare_from_url(self, url: str) -> None:
        # A direct connection first: it fails at once when the server is down, where a
        # pool would keep retrying in the background until its timeout.
        conninfo = self._conninfo(url)
        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as connection:
            await self._bounded(connection, self._create_table)
        pool: Pool = AsyncConnectionPool(
            conninfo,
            open=False,
            min_size=1,
            max_size=self._max_size,
            kwargs={"autocommit": True},
            timeout=self._connect_timeout,
            name=f"resultflow-kv-{self.table}",
        )
        await pool.open()
        self._pool = pool

    def _conninfo(self, url: str) -> str:
        """`url` with a bounded connect and TCP settings that notice a dead peer.

        Keepalives and `tcp_user_timeout` also act on idle connections; settings given
        in the URL win.
        """
        bound = max(1, math.ceil(self._operation_timeout))
        defaults: dict[str, str | int] = {
            "connect_timeout": max(2, math.ceil(self._connect_timeout)),
            "keepalives": 1,
            "keepalives_idle": bound,
            "keepalives_interval": max(1, bound // 3),
            "keepalives_count": 3,
            "tcp_user_timeout": bound * 1000,
        }
        return make_conninfo(url, **{**defaults, **conninfo_to_dict(url)})

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
                "CREATE TABLE IF NOT EXISTS {} (key bytea NOT NULL, value bytea NOT NULL, "
                "expires_at double precision, "
                "key_hash bytea GENERATED ALWAYS AS (sha256(key)) STORED PRIMARY KEY)"
            ),
        )
        if not await self._has_key_hash(cursor):
            await self._migrate(connection)
        await self._ignore_races(
            cursor,
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (" + _SCAN_PART + ", key_hash)").format(
                sql.Identifier(self._index_name("scan")), self._name
            ),
        )

    async def _has_key_hash(self, cursor: psycopg.AsyncCursor[tuple[Any, ...]]) -> bool:
        await cursor.execute(
            "SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attname = 'key_hash' AND NOT attisdropped",
            (self._name.as_string(cursor.connection),),
        )
        return await cursor.fetchone() is not None

    async def _migrate(self, connection: Connection) -> None:
        """Move a table of an earlier version (primary key on `key`) to `key_hash`.

        One transaction holding an exclusive lock on the table, so concurrent stores
        migrate it once and no write sees it half done.
        """
        async with connection.transaction():
            cursor = connection.cursor(row_factory=tuple_row)
            await cursor.execute(self._sql("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE"))
            if await self._has_key_hash(cursor):
                return  # another store migrated it while we waited for the lock
            await cursor.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(%s) "
                "AND contype = 'p'",
                (self._name.as_string(connection),),
            )
            primary = await cursor.fetchone()
            await cursor.execute(
                self._sql(
                    "ALTER TABLE {} ADD COLUMN key_hash bytea "
                    "GENERATED ALWAYS AS (sha256(key)) STORED"
                )
            )
            if primary is not None:
                await cursor.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        self._name, sql.Identifier(str(primary[0]))
                    )
                )
            await cursor.execute(self._sql("ALTER TABLE {} ADD PRIMARY KEY (key_hash)"))

    def _index_name(self, purpose: LiteralString) -> str:
        # Identifiers stop at 63 bytes: a digest of the qualified table name fits any.
        qualified = f"{self.schema or ''}.{self.table}".encode()
        return f"resultflow_{hashlib.sha256(qualified).hexdigest()[:16]}_{purpose}"

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


def _break_connection(connection: Connection) -> None:
    """Shut down the socket of `connection`, so that its pending I/O fails at once.

    The driver then reports the connection as broken; a pool discards it. Shutting
    down (not closing) leaves the file descriptor to the driver, which still owns it.
    """
    with contextlib.suppress(Exception):
        descriptor = connection.pgconn.socket
        with socket.socket(fileno=os.dup(descriptor)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)


async def _abandon(connection: Connection, inner: asyncio.Future[Any]) -> None:
    """End an operation that did not finish in time: break and close its connection.

    Closed, not only broken: a connection whose driver has not noticed the shutdown
    yet (between two reads) would otherwise look healthy to a pool and be reused.
    """
    _break_connection(connection)
    await _settle(inner)
    with contextlib.suppress(Exception):
        await connection.close()


async def _settle(inner: asyncio.Future[Any]) -> None:
    """Wait (briefly) for an inner task whose connection was broken, and consume its outcome."""
    done, _ = await asyncio.shield(asyncio.wait({inner}, timeout=_SETTLE_SECONDS))
    if not done:
        inner.cancel()
        return
    if not inner.cancelled():
        inner.exception()  # retrieved: it is replaced by the caller's error


def _positive_seconds(name: str, seconds: object) -> float:
    """`seconds` as a float if it is a positive, finite number, else ValueError."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {seconds!r}")
    if not 0 < seconds < math.inf:
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {seconds!r}")
    return float(seconds)


def _key_params(key: str) -> tuple[bytes, bytes]:
    """The parameters of `_BY_KEY`: the key's SHA-256 (what the index holds) and the key."""
    raw = _encode(key)
    return hashlib.sha256(raw).digest(), raw


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
