"""PostgresKV specifics, against the real server: pools, connections, schema, failures."""

from __future__ import annotations

import asyncio
import importlib
import math
import sys
import time
from collections.abc import AsyncIterator

import psycopg
import psycopg.conninfo
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from resultflow.persistence._kv import (
    CorruptEntryError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)
from resultflow.persistence._kv_postgres import PostgresKV
from resultflow.persistence._state_persistence import StatePersistence
from resultflow.testing._clock import TestClock

pytestmark = pytest.mark.services


def table_names(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "ORDER BY table_name",
            (schema,),
        ).fetchall()
    return [row[0] for row in rows]


async def test_creates_its_table_in_the_schema(postgres_url: str, postgres_schema: str) -> None:
    kv = PostgresKV(postgres_url, table="my_kv", schema=postgres_schema)
    assert table_names(postgres_url, postgres_schema) == []
    await kv.set("k", "v")
    assert table_names(postgres_url, postgres_schema) == ["my_kv"]
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            f'SELECT key, value, expires_at FROM "{postgres_schema}".my_kv'
        ).fetchone()
    assert row == (b"k", b"v", None)
    await kv.close()


async def test_rows_written_by_something_else_are_reported_or_skipped(
    postgres_url: str, postgres_schema: str
) -> None:
    kv = PostgresKV(postgres_url, schema=postgres_schema)
    try:
        await kv.set("ok", "fine")
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            insert = f'INSERT INTO "{postgres_schema}".resultflow_kv VALUES (%s, %s, NULL)'
            connection.execute(insert, (b"binary", b"\xff\xfe"))
            connection.execute(insert, (b"\xffnot-a-key", b"v"))
        with pytest.raises(CorruptEntryError, match="not UTF-8") as raised:
            await kv.get("binary")
        assert (raised.value.backend, raised.value.key) == ("postgres", "binary")
        assert await kv.get("ok") == "fine"
        assert [key async for key in kv.scan("")] == ["binary", "ok"]
    finally:
        await kv.close()


async def test_creates_a_missing_schema(postgres_url: str, postgres_schema: str) -> None:
    nested = postgres_schema + "_extra"
    kv = PostgresKV(postgres_url, schema=nested)
    try:
        await kv.set("k", "v")
        assert table_names(postgres_url, nested) == ["resultflow_kv"]
    finally:
        await kv.close()
        with psycopg.connect(postgres_url, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA IF EXISTS "{nested}" CASCADE')


async def test_concurrent_stores_create_one_table_without_errors(
    postgres_url: str, postgres_schema: str
) -> None:
    stores = [PostgresKV(postgres_url, schema=postgres_schema) for _ in range(6)]
    await asyncio.gather(*(kv.set(f"k{index}", "v") for index, kv in enumerate(stores)))
    assert table_names(postgres_url, postgres_schema) == ["resultflow_kv"]
    assert {key async for key in stores[0].scan("")} == {f"k{index}" for index in range(6)}
    await asyncio.gather(*(kv.close() for kv in stores))


async def test_shared_pool_is_reused_and_left_open(postgres_url: str, postgres_schema: str) -> None:
    pool = AsyncConnectionPool(postgres_url, open=False, min_size=1, max_size=3)
    await pool.open()
    try:
        orders = PostgresKV(pool, table="orders_kv", schema=postgres_schema)
        states = PostgresKV(pool, table="states_kv", schema=postgres_schema)
        assert orders.pool is pool and states.pool is pool
        await asyncio.gather(
            *(orders.set(f"o{index}", "v") for index in range(30)),
            *(states.set(f"s{index}", "v") for index in range(30)),
        )
        stats = pool.get_stats()
        assert stats["pool_size"] <= 3
        assert stats["requests_num"] >= 60
        await orders.close()
        await states.close()
        assert not pool.closed
        async with pool.connection() as connection:
            cursor = await connection.execute(f'SELECT count(*) FROM "{postgres_schema}".orders_kv')
            assert await cursor.fetchone() == (30,)
        with pytest.raises(StoreClosedError):
            await orders.get("o1")
    finally:
        await pool.close()


async def test_a_pool_with_dict_rows_works(postgres_url: str, postgres_schema: str) -> None:
    async with AsyncConnectionPool(
        postgres_url, open=False, kwargs={"row_factory": dict_row}
    ) as pool:
        kv = PostgresKV(pool, schema=postgres_schema)
        await kv.set("k", "v")
        assert await kv.get("k") == "v"
        assert [key async for key in kv.scan("")] == ["k"]


async def test_own_pool_is_closed_by_close(postgres_url: str, postgres_schema: str) -> None:
    kv = PostgresKV(postgres_url, schema=postgres_schema, max_size=2)
    assert kv.pool is None  # opened lazily
    await kv.set("k", "v")
    pool = kv.pool
    assert pool is not None and not pool.closed
    assert pool.max_size == 2
    await kv.close()
    assert pool.closed


async def test_a_single_connection_commits_each_operation(
    postgres_url: str, postgres_schema: str
) -> None:
    connection = await psycopg.AsyncConnection.connect(postgres_url)  # not autocommit
    try:
        kv = PostgresKV(connection, schema=postgres_schema)
        await asyncio.gather(*(kv.set(f"k{index}", str(index)) for index in range(10)))
        other = PostgresKV(postgres_url, schema=postgres_schema)
        assert await other.get("k9") == "9"  # committed: visible to another connection
        await other.close()
        await kv.close()
        assert not connection.closed  # the caller's connection stays open
    finally:
        await connection.close()


async def test_a_failed_statement_on_a_single_connection_is_rolled_back(
    postgres_url: str, postgres_schema: str
) -> None:
    connection = await psycopg.AsyncConnection.connect(postgres_url)
    try:
        kv = PostgresKV(connection, schema=postgres_schema)
        await kv.set("k", "v")
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(f'DROP TABLE "{postgres_schema}".resultflow_kv')
        with pytest.raises(StoreError, match="UndefinedTable"):
            await kv.get("k")
        again = PostgresKV(connection, schema=postgres_schema)  # recreates the table
        await again.set("k", "v2")  # the connection was rolled back and works again
        assert await again.get("k") == "v2"
    finally:
        await connection.close()


async def test_purge_expired(postgres_url: str, postgres_schema: str) -> None:
    clock = TestClock()
    kv = PostgresKV(postgres_url, schema=postgres_schema, clock=clock)
    await kv.set("old", "v", ttl=1)
    await kv.set("forever", "v")
    clock.advance(2)
    assert await kv.purge_expired() == 1
    assert await kv.purge_expired() == 0
    assert [key async for key in kv.scan("")] == ["forever"]
    await kv.close()


async def test_state_persistence_on_postgres_survives_a_new_store(
    postgres_url: str, postgres_schema: str
) -> None:
    first = PostgresKV(postgres_url, schema=postgres_schema)
    await StatePersistence(first).save("run", {}, meta={"by": "first"})
    await first.close()
    second = PostgresKV(postgres_url, schema=postgres_schema)
    loaded = await StatePersistence(second).load("run")
    assert loaded is not None and loaded.meta == {"by": "first"}
    await second.close()


async def test_a_server_that_is_down_is_unavailable_at_once() -> None:
    kv = PostgresKV("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)
    started = time.monotonic()
    for operation in (kv.get("k"), kv.set("k", "v"), kv.exists("k")):
        with pytest.raises(StoreUnavailableError, match=r"postgres: .*refused") as raised:
            await operation
        assert raised.value.backend == "postgres"
    assert time.monotonic() - started < 2
    await kv.close()


async def test_a_pool_that_cannot_connect_is_unavailable() -> None:
    pool = AsyncConnectionPool("postgresql://postgres@127.0.0.1:1/test", open=False)
    await pool.open(wait=False)
    try:
        kv = PostgresKV(pool, connect_timeout=0.1)
        with pytest.raises(StoreUnavailableError, match="PoolTimeout"):
            await kv.get("k")
    finally:
        await pool.close()


async def test_a_closed_pool_is_unavailable(postgres_url: str) -> None:
    pool = AsyncConnectionPool(postgres_url, open=False)
    kv = PostgresKV(pool)
    with pytest.raises(StoreUnavailableError, match="PoolClosed"):
        await kv.get("k")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="URL"):
        PostgresKV(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="table"):
        PostgresKV("postgresql://x", table="kv; DROP TABLE users")
    with pytest.raises(ValueError, match="schema"):
        PostgresKV("postgresql://x", schema='public"; --')
    with pytest.raises(ValueError, match="connect_timeout"):
        PostgresKV("postgresql://x", connect_timeout=0)


def test_missing_psycopg_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.delitem(sys.modules, "resultflow.persistence._kv_postgres")
    with pytest.raises(ImportError, match=r"pip install resultflow\[postgres\]"):
        importlib.import_module("resultflow.persistence._kv_postgres")


async def test_compare_and_set_on_a_single_connection_and_on_foreign_rows(
    postgres_url: str, postgres_schema: str
) -> None:
    """Through one caller's connection (not autocommit) each compare_and_set commits;
    a foreign row whose bytes are not UTF-8 matches nothing and is not missing."""
    connection = await psycopg.AsyncConnection.connect(postgres_url)
    other = PostgresKV(postgres_url, schema=postgres_schema)
    try:
        kv = PostgresKV(connection, schema=postgres_schema)
        outcomes = await asyncio.gather(*(kv.compare_and_set("k", None, str(n)) for n in range(5)))
        assert outcomes.count(True) == 1
        winner = str(outcomes.index(True))
        assert await other.get("k") == winner  # committed
        assert await kv.compare_and_set("k", winner, "next") is True
        assert await other.compare_and_set("k", winner, "late") is False
        assert await other.get("k") == "next"
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            insert = f'INSERT INTO "{postgres_schema}".resultflow_kv VALUES (%s, %s, NULL)'
            admin.execute(insert, (b"binary", b"\xff\xfe"))
        assert await kv.compare_and_set("binary", None, "x") is False
        assert await kv.compare_and_set("binary", "\ufffd\ufffd", "x") is False
        await kv.close()
    finally:
        await other.close()
        await connection.close()


# -- keys of any length: hashed primary key, and the migration of older tables ----------


async def test_a_table_of_the_earlier_layout_is_migrated_on_first_use(
    postgres_url: str, postgres_schema: str
) -> None:
    """A table whose primary key is the key itself (resultflow before the hashed key)
    keeps its rows, takes long keys afterwards, and is migrated once by racing stores."""
    table = f'"{postgres_schema}".resultflow_kv'
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(
            f"CREATE TABLE {table} "
            "(key bytea PRIMARY KEY, value bytea NOT NULL, expires_at double precision)"
        )
        admin.execute(f"INSERT INTO {table} VALUES ('old', 'kept', NULL), ('gone', 'x', 1)")
    stores = [PostgresKV(postgres_url, schema=postgres_schema) for _ in range(3)]
    try:
        assert await asyncio.gather(*(kv.get("old") for kv in stores)) == ["kept"] * 3
        kv = stores[0]
        long_key = "x" * 100_000
        await kv.set(long_key, "long")
        assert await kv.get(long_key) == "long"
        assert await kv.compare_and_set("old", "kept", "new") is True
        assert {key async for key in kv.scan("")} == {"old", long_key}
        with psycopg.connect(postgres_url) as admin:
            primary = admin.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                "WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (table,),
            ).fetchall()
        assert primary == [("key_hash",)]
    finally:
        await asyncio.gather(*(kv.close() for kv in stores))


# -- a caller's transaction is the caller's -------------------------------------------


def committed_notes(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(f'SELECT body FROM "{schema}".notes ORDER BY body').fetchall()
    return [row[0] for row in rows]


async def test_operations_never_commit_the_callers_pending_work(
    postgres_url: str, postgres_schema: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE TABLE "{postgres_schema}".notes (body text)')
    connection = await psycopg.AsyncConnection.connect(postgres_url)  # autocommit off
    other = PostgresKV(postgres_url, schema=postgres_schema)
    try:
        kv = PostgresKV(connection, schema=postgres_schema)
        await kv.set("before", "v")  # idle connection: a transaction of the store's own
        assert await other.get("before") == "v"

        await connection.execute(f'INSERT INTO "{postgres_schema}".notes VALUES (%s)', ("mine",))
        await kv.set("k", "v")
        assert await kv.get("k") == "v"
        assert await kv.compare_and_set("k", "v", "w") is True
        assert [key async for key in kv.scan("")] == ["before", "k"]
        # Still the caller's open transaction: nothing of it is visible elsewhere.
        assert connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert committed_notes(postgres_url, postgres_schema) == []
        assert await other.get("k") is None

        await connection.rollback()  # the caller decides: the KV write goes with it
        assert await kv.get("k") is None
        await connection.execute(f'INSERT INTO "{postgres_schema}".notes VALUES (%s)', ("again",))
        await kv.set("k", "kept")
        await connection.commit()
        assert committed_notes(postgres_url, postgres_schema) == ["again"]
        assert await other.get("k") == "kept"
    finally:
        await other.close()
        await connection.close()


async def test_a_failed_operation_keeps_the_callers_pending_work(
    postgres_url: str, postgres_schema: str
) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE TABLE "{postgres_schema}".notes (body text)')
    connection = await psycopg.AsyncConnection.connect(postgres_url)
    try:
        kv = PostgresKV(connection, schema=postgres_schema)
        await kv.set("k", "v")
        await connection.execute(f'INSERT INTO "{postgres_schema}".notes VALUES (%s)', ("mine",))
        # A constraint of the caller's own transaction makes the store's write fail.
        await connection.execute(
            f'ALTER TABLE "{postgres_schema}".resultflow_kv '
            "ADD CONSTRAINT short CHECK (length(value) < 5)"
        )
        with pytest.raises(StoreError, match="CheckViolation"):
            await kv.set("k", "far too long")
        assert connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        assert await kv.get("k") == "v"  # the transaction is still usable
        await connection.commit()
        assert committed_notes(postgres_url, postgres_schema) == ["mine"]
    finally:
        await connection.close()


# -- a stalled network ends in StoreUnavailableError within the bound -------------------


class StallingProxy:
    """A TCP proxy on 127.0.0.1 to the real server that can stop forwarding (a stall).

    Once stalled, it keeps every connection open and reads what the client sends, but
    forwards nothing either way: to the client the server has gone silent, as behind
    a dead router. `received_while_stalled` is set when a request arrives then.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.stalled = False
        self.received_while_stalled = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def stall(self) -> None:
        self.stalled = True

    async def close(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()

    async def _serve(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await asyncio.open_connection(*self.target)
        self.writers += [client_out, server_out]
        await asyncio.gather(
            self._pump(client_in, server_out, client_side=True),
            self._pump(server_in, client_out, client_side=False),
            return_exceptions=True,
        )

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, client_side: bool
    ) -> None:
        while data := await source.read(65536):
            if self.stalled:
                if client_side:
                    self.received_while_stalled.set()
                continue  # swallowed: nothing gets through any more
            sink.write(data)
            await sink.drain()


@pytest.fixture
async def proxy(postgres_url: str) -> AsyncIterator[tuple[StallingProxy, str]]:
    info = psycopg.conninfo.conninfo_to_dict(postgres_url)
    stalling = StallingProxy(str(info.get("host", "127.0.0.1")), int(info.get("port", 5432)))
    port = await stalling.start()
    through = psycopg.conninfo.make_conninfo(postgres_url, host="127.0.0.1", port=port)
    try:
        yield stalling, through
    finally:
        await stalling.close()


async def test_a_stalled_network_ends_in_unavailable_within_the_bound(
    proxy: tuple[StallingProxy, str], postgres_schema: str
) -> None:
    stalling, url = proxy
    kv = PostgresKV(url, schema=postgres_schema, connect_timeout=2, operation_timeout=1)
    try:
        await kv.set("k", "v")
        assert await kv.get("k") == "v"
        stalling.stall()
        for operation in (kv.get("k"), kv.set("k", "w"), kv.compare_and_set("k", "v", "w")):
            started = time.monotonic()
            with pytest.raises(StoreUnavailableError) as raised:
                await operation
            # Bound: connect_timeout + operation_timeout (3 s); generous for a busy host.
            assert time.monotonic() - started < 8
            assert raised.value.backend == "postgres"
    finally:
        await stalling.close()
        await kv.close()


async def test_cancelling_an_operation_on_a_stalled_network_ends_it_promptly(
    proxy: tuple[StallingProxy, str], postgres_schema: str
) -> None:
    stalling, url = proxy
    connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
    kv = PostgresKV(connection, schema=postgres_schema, operation_timeout=60)
    try:
        await kv.set("k", "v")
        stalling.stall()
        pending = asyncio.ensure_future(kv.get("k"))
        await stalling.received_while_stalled.wait()  # the query is on the wire
        started = time.monotonic()
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        # psycopg alone spends up to 10 s cancelling; the store breaks the socket.
        assert time.monotonic() - started < 5
        assert connection.broken or connection.closed
    finally:
        await connection.close()


def test_timeouts_must_be_positive_and_finite() -> None:
    for bad in (0, -1, math.inf, math.nan, True, "5"):
        with pytest.raises(ValueError, match="operation_timeout"):
            PostgresKV("postgresql://x", operation_timeout=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="connect_timeout"):
            PostgresKV("postgresql://x", connect_timeout=bad)  # type: ignore[arg-type]
