"""SQLiteKV specifics: WAL mode on a real file, sharing a file, table names, failures."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from resultflow.persistence._kv import (
    CorruptEntryError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)
from resultflow.persistence._kv_sqlite import SQLiteKV, check_table_name, prefix_upper_bound
from resultflow.testing._clock import TestClock


def read_rows(path: Path, table: str) -> list[tuple[bytes, str, float | None]]:
    with sqlite3.connect(path) as connection:
        return connection.execute(f'SELECT key, value, expires_at FROM "{table}"').fetchall()


async def test_a_file_database_uses_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    kv = SQLiteKV(path)
    await kv.set("k", "v")
    assert await kv.journal_mode() == "wal"
    assert (tmp_path / "store.db-wal").exists()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    await kv.close()


async def test_in_memory_database(tmp_path: Path) -> None:
    kv = SQLiteKV(":memory:")
    await kv.set("k", "v")
    assert await kv.get("k") == "v"
    assert await kv.journal_mode() == "memory"
    await kv.close()


async def test_two_stores_on_one_file_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = SQLiteKV(path), SQLiteKV(path)
    await first.set("k", "from first")
    assert await second.get("k") == "from first"
    await second.set("k", "from second")
    assert await first.get("k") == "from second"
    await first.close()
    await second.close()


async def test_rows_hold_utf8_keys_text_values_and_expiry(tmp_path: Path) -> None:
    path = tmp_path / "rows.db"
    kv = SQLiteKV(path, table="my_kv", clock=TestClock(start=100.0))
    await kv.set("ключ", "значение", ttl=5)
    await kv.close()
    assert read_rows(path, "my_kv") == [("ключ".encode(), "значение", 105.0)]


async def test_rows_written_by_something_else_are_reported_or_skipped(tmp_path: Path) -> None:
    path = tmp_path / "foreign.db"
    kv = SQLiteKV(path)
    await kv.set("ok", "fine")
    with sqlite3.connect(path) as connection:
        insert = "INSERT INTO resultflow_kv (key, value, expires_at) VALUES (?, ?, NULL)"
        connection.execute(insert, (b"blob", b"\xff\xfe"))  # a BLOB, not TEXT
        connection.execute(insert, (b"bad-text", "x"))
        connection.execute(
            "UPDATE resultflow_kv SET value = CAST(X'C328' AS TEXT) WHERE key = ?", (b"bad-text",)
        )
        connection.execute(insert, (b"utf8-blob", "héllo".encode()))
        connection.execute(insert, (b"\xffnot-a-key", "v"))
    with pytest.raises(CorruptEntryError, match="not UTF-8") as blob:
        await kv.get("blob")
    assert (blob.value.backend, blob.value.key) == ("sqlite", "blob")
    with pytest.raises(CorruptEntryError, match="not UTF-8"):
        await kv.get("bad-text")
    assert await kv.get("utf8-blob") == "héllo"
    assert await kv.get("ok") == "fine"
    assert [key async for key in kv.scan("")] == ["bad-text", "blob", "ok", "utf8-blob"]
    await kv.close()


async def test_tables_are_independent(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    a, b = SQLiteKV(path, table="a_kv"), SQLiteKV(path, table="b_kv")
    await a.set("k", "a")
    await b.set("k", "b")
    assert (await a.get("k"), await b.get("k")) == ("a", "b")
    await a.close()
    await b.close()


@pytest.mark.parametrize(
    "name",
    ['kv"; DROP TABLE x; --', "1abc", "a-b", "a b", "", "a" * 64, "schema.table", "ünï"],
)
def test_bad_table_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="table"):
        SQLiteKV(":memory:", table=name)


def test_good_table_names_pass() -> None:
    for name in ["kv", "_kv", "Resultflow_KV_2", "a" * 63]:
        assert check_table_name(name) == name
    with pytest.raises(ValueError):
        check_table_name(3)


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound(b"") is None
    assert prefix_upper_bound(b"ab") == b"ac"
    assert prefix_upper_bound(b"a\xff") == b"b"
    assert prefix_upper_bound(b"\xff\xff") is None
    assert prefix_upper_bound("é".encode()) == b"\xc3\xaa"


async def test_purge_expired(tmp_path: Path) -> None:
    clock = TestClock()
    kv = SQLiteKV(tmp_path / "p.db", clock=clock)
    await kv.set("old", "v", ttl=1)
    await kv.set("fresh", "v", ttl=100)
    await kv.set("forever", "v")
    clock.advance(2)
    assert await kv.purge_expired() == 1
    assert await kv.purge_expired() == 0
    await kv.close()
    assert sorted(row[0] for row in read_rows(tmp_path / "p.db", "resultflow_kv")) == [
        b"forever",
        b"fresh",
    ]


async def test_a_missing_directory_is_unavailable(tmp_path: Path) -> None:
    kv = SQLiteKV(tmp_path / "no" / "such" / "dir" / "x.db")
    with pytest.raises(StoreUnavailableError, match="cannot open") as raised:
        await kv.get("k")
    assert raised.value.backend == "sqlite"
    await kv.close()


async def test_a_file_that_is_not_a_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "text.db"
    path.write_bytes(b"this is not a database" * 100)
    kv = SQLiteKV(path)
    with pytest.raises(StoreUnavailableError, match="not a database"):
        await kv.set("k", "v")
    await kv.close()


async def test_a_table_with_another_shape_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE resultflow_kv (id INTEGER PRIMARY KEY)")
    kv = SQLiteKV(path)
    with pytest.raises(StoreError, match="no such column"):
        await kv.get("k")
    await kv.close()


async def test_close_stops_the_thread_and_refuses_work(tmp_path: Path) -> None:
    kv = SQLiteKV(tmp_path / "c.db")
    await kv.set("k", "v")
    await kv.close()
    with pytest.raises(StoreClosedError):
        await kv.get("k")
    never_used = SQLiteKV(tmp_path / "unused.db")
    await never_used.close()
    assert not (tmp_path / "unused.db").exists()


async def test_compare_and_set_on_rows_written_by_something_else(tmp_path: Path) -> None:
    """A value is compared as `get` reads it: a UTF-8 BLOB matches its text, bytes that
    are not UTF-8 match nothing (and a live foreign row is not missing)."""
    path = tmp_path / "foreign.db"
    kv = SQLiteKV(path)
    await kv.set("ok", "fine")
    with sqlite3.connect(path) as connection:
        insert = "INSERT INTO resultflow_kv (key, value, expires_at) VALUES (?, ?, NULL)"
        connection.execute(insert, (b"blob", b"\xff\xfe"))
        connection.execute(insert, (b"utf8-blob", "héllo".encode()))
    assert await kv.get("utf8-blob") == "héllo"
    assert await kv.compare_and_set("utf8-blob", "héllo", "bonjour") is True
    assert await kv.get("utf8-blob") == "bonjour"
    assert await kv.compare_and_set("blob", None, "x") is False
    assert await kv.compare_and_set("blob", "\ufffd\ufffd", "x") is False
    with pytest.raises(CorruptEntryError):
        await kv.get("blob")  # untouched
    await kv.close()
    assert (b"utf8-blob", "bonjour", None) in read_rows(path, "resultflow_kv")


async def test_stores_opening_one_fresh_file_at_once_all_get_in(tmp_path: Path) -> None:
    """Switching a new file to WAL takes a lock SQLite does not wait for: the stores that
    lose that race retry within their timeout instead of failing with 'locked'."""
    for round_number in range(15):
        path = tmp_path / f"fresh-{round_number}.db"
        stores = [SQLiteKV(path) for _ in range(4)]
        try:
            results = await asyncio.gather(*(store.get("missing") for store in stores))
            assert results == [None, None, None, None]
        finally:
            for store in stores:
                await store.close()
