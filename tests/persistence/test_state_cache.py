"""StatePersistence, KVCache and HydratingCache over every KV backend (conftest `backend`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from resultflow import MemoryCache, Step, StepCollector, run
from resultflow.cache import AsyncStepCache, CacheEntry
from resultflow.errors import TaggedError, UnexpectedError
from resultflow.persistence._codec import LoadedState, dumps_state
from resultflow.persistence._errors import SerializationError, StateFormatError
from resultflow.persistence._kv import CorruptEntryError, KVStore, MemoryKV, StoreError
from resultflow.persistence._kv_cache import HydratingCache, KVCache
from resultflow.persistence._kv_file import FileKV, file_name_for
from resultflow.persistence._kv_sqlite import SQLiteKV
from resultflow.persistence._page import Page
from resultflow.persistence._state_persistence import StatePersistence
from resultflow.result import Err, Ok


class PersistedOutOfStock(TaggedError):
    sku: str


def sample_state() -> dict[str, CacheEntry]:
    return {
        "reserve": CacheEntry(Ok({"sku": "A-1", "qty": 2}), {"attempts": 1}),
        "price": CacheEntry(Ok(Decimal("19.90"))),
        "when": CacheEntry(Ok(dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC))),
        "stock": CacheEntry(Err(PersistedOutOfStock("B-2")), {"note": "replay me"}),
    }


# -- StatePersistence ----------------------------------------------------------------


async def test_state_round_trip(kv: KVStore) -> None:
    states = StatePersistence(kv)
    await states.save("run-1", sample_state(), meta={"owner": "ann"}, version=3)
    loaded = await states.load("run-1")
    assert loaded == LoadedState(state=sample_state(), meta={"owner": "ann"}, version=3)
    assert list(loaded.state) == ["reserve", "price", "when", "stock"]  # order kept
    assert await states.exists("run-1")


async def test_state_is_stored_under_its_prefix_as_json(kv: KVStore) -> None:
    states = StatePersistence(kv, prefix="wf/")
    await states.save("r", {"a": CacheEntry(Ok(1))})
    assert [key async for key in kv.scan("")] == ["wf/r"]
    stored = await kv.get("wf/r")
    assert stored == dumps_state({"a": CacheEntry(Ok(1))})


async def test_load_of_missing_run_is_none(kv: KVStore) -> None:
    states = StatePersistence(kv)
    assert await states.load("nope") is None
    assert await states.load_result("nope") == Ok(None)
    assert await states.exists("nope") is False


async def test_save_replaces_and_delete_forgets(kv: KVStore) -> None:
    states = StatePersistence(kv)
    await states.save("r", {"a": CacheEntry(Ok(1))})
    await states.save("r", {"b": CacheEntry(Ok(2))})
    loaded = await states.load("r")
    assert loaded is not None and loaded.state == {"b": CacheEntry(Ok(2))}
    await states.delete("r")
    assert await states.load("r") is None
    await states.delete("r")  # no error when missing


async def test_state_with_ttl_expires(backend) -> None:
    states = StatePersistence(backend.kv)
    await states.save("r", {"a": CacheEntry(Ok(1))}, ttl=backend.short_ttl)
    assert await states.load("r") is not None
    await backend.wait_until_expired("state:r")
    assert await states.load("r") is None


@pytest.mark.parametrize(
    ("stored", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"format": 1, "version": 1, "meta": null, "steps": {"a": {"res', "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"version": 1, "steps": {}}', "format"),
        ('{"format": 99, "version": 1, "steps": {}}', "newer"),
        ('{"format": 1, "version": 1, "steps": {"a": {"meta": {}}}}', "result"),
    ],
)
async def test_corrupt_state_is_a_typed_error(kv: KVStore, stored: str, fragment: str) -> None:
    states = StatePersistence(kv)
    await kv.set("state:bad", stored)

    with pytest.raises(CorruptEntryError) as raised:
        await states.load("bad")
    assert isinstance(raised.value, StoreError)
    assert raised.value.key == "state:bad"
    assert isinstance(raised.value.error, StateFormatError)
    assert fragment in raised.value.error.message

    result = await states.load_result("bad")
    assert isinstance(result, Err)
    assert isinstance(result.error, StateFormatError)
    assert fragment in result.error.message


async def damage_raw_bytes(backend: Any, key: str) -> None:
    """Overwrite the stored bytes of `key` behind the store's back with non-UTF-8 junk.

    `backend` is the conftest `Backend` (its store and name).
    """
    junk = b'{"format": 1, \xff\xfe'
    kv = backend.kv
    if isinstance(kv, FileKV):
        (kv.directory / file_name_for(key)).write_bytes(junk)
    elif isinstance(kv, SQLiteKV):
        with sqlite3.connect(kv.path) as connection:
            update = f'UPDATE "{kv.table}" SET value = ? WHERE key = ?'
            connection.execute(update, (junk, key.encode()))
    elif backend.name == "postgres":
        from resultflow.persistence._kv_postgres import PostgresKV

        assert isinstance(kv, PostgresKV) and kv.pool is not None
        async with kv.pool.connection() as connection:
            update = f'UPDATE "{kv.schema}"."{kv.table}" SET value = %s WHERE key = %s'
            await connection.execute(update, (junk, key.encode()))  # type: ignore[arg-type]
    elif backend.name == "redis":
        from resultflow.persistence._kv_redis import RedisKV

        assert isinstance(kv, RedisKV)
        await kv.client.set((kv.prefix + key).encode(), junk)
    else:
        pytest.skip("an in-memory store holds str values: no bytes to damage")


async def test_bytes_the_store_cannot_read_are_a_typed_error(backend: Any) -> None:
    states = StatePersistence(backend.kv)
    await states.save("damaged", sample_state())
    await damage_raw_bytes(backend, "state:damaged")

    with pytest.raises(CorruptEntryError) as raised:
        await states.load("damaged")
    assert raised.value.key == "state:damaged"
    assert isinstance(raised.value.error, StateFormatError)

    result = await states.load_result("damaged")
    assert isinstance(result, Err)
    assert isinstance(result.error, StateFormatError)
    assert result.error.message


async def test_truncated_real_state_is_a_typed_error(kv: KVStore) -> None:
    text = dumps_state(sample_state(), {"owner": "ann"})
    await kv.set("state:cut", text[: len(text) // 2])
    result = await StatePersistence(kv).load_result("cut")
    assert isinstance(result, Err) and "truncated" in result.error.message


async def test_unserializable_state_raises_and_stores_nothing(kv: KVStore) -> None:
    states = StatePersistence(kv)
    with pytest.raises(SerializationError, match="card"):
        await states.save("r", {"charge": CacheEntry(Ok({"card": object()}))})
    assert await states.load("r") is None


async def test_list_pages_through_runs(kv: KVStore) -> None:
    states = StatePersistence(kv)
    run_ids = [f"run-{index}" for index in range(7)]
    await asyncio.gather(*(states.save(run_id, {}) for run_id in run_ids))
    await kv.set("other:run-x", "not a state")

    first = await states.list(limit=3)
    assert first == Page(items=["run-0", "run-1", "run-2"], next_cursor="run-2")
    second = await states.list(limit=3, cursor=first.next_cursor)
    assert second.items == ["run-3", "run-4", "run-5"]
    third = await states.list(limit=3, cursor=second.next_cursor)
    assert third == Page(items=["run-6"], next_cursor=None)
    assert (await states.list()).items == run_ids
    assert len(await states.list(limit=7)) == 7
    assert (await states.list(limit=7)).next_cursor is None


async def test_list_by_prefix_and_with_changes_between_pages(kv: KVStore) -> None:
    states = StatePersistence(kv)
    for run_id in ["order-1", "order-2", "order-3", "refund-1"]:
        await states.save(run_id, {})
    assert (await states.list(prefix="order-")).items == ["order-1", "order-2", "order-3"]
    assert (await states.list(prefix="nothing")).items == []

    first = await states.list(prefix="order-", limit=2)
    await states.save("order-0", {})  # sorts before the cursor: not repeated later
    await states.delete("order-3")
    rest = await states.list(prefix="order-", limit=2, cursor=first.next_cursor)
    assert first.items == ["order-1", "order-2"]
    assert rest == Page(items=[], next_cursor=None)


class ManyRunsKV(MemoryKV):
    """A store whose scan reports `count` state keys, newest first, some of them twice."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    async def scan(self, prefix: str = "") -> AsyncIterator[str]:
        for index in reversed(range(self.count)):
            key = f"state:run-{index:06d}"
            if key.startswith(prefix):
                yield key
                if index % 1000 == 0:
                    yield key  # SCAN may repeat a key


async def test_list_holds_one_page_of_ids_however_many_runs_are_stored() -> None:
    states = StatePersistence(ManyRunsKV(20_000))
    tracemalloc.start()
    try:
        first = await states.list(limit=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 200_000  # the 20,000 ids themselves would take over 1 MB
    assert first == Page(items=["run-000000", "run-000001", "run-000002"], next_cursor="run-000002")
    later = await states.list(limit=3, cursor="run-000999")
    assert later.items == ["run-001000", "run-001001", "run-001002"]  # repeated key once
    last = await states.list(limit=3, cursor="run-019997")
    assert last == Page(items=["run-019998", "run-019999"], next_cursor=None)


async def test_list_rejects_a_bad_limit(kv: KVStore) -> None:
    with pytest.raises(ValueError, match="limit"):
        await StatePersistence(kv).list(limit=0)


# -- KVCache ------------------------------------------------------------------------


async def test_kvcache_round_trips_ok_and_err_entries(kv: KVStore) -> None:
    cache = KVCache(kv)
    assert isinstance(cache, AsyncStepCache)
    for key, entry in sample_state().items():
        await cache.set(key, entry)
    for key, entry in sample_state().items():
        assert await cache.get(key) == entry
    assert await cache.get("missing") is None
    assert {key async for key in kv.scan("step:")} == {f"step:{key}" for key in sample_state()}


async def test_kvcache_keeps_unexpected_error_cause_as_info(kv: KVStore) -> None:
    cache = KVCache(kv)
    error = UnexpectedError.from_exception(ValueError("boom"), step="charge")
    await cache.set("charge", CacheEntry(Err(error)))
    entry = await cache.get("charge")
    assert entry is not None and isinstance(entry.result, Err)
    assert isinstance(entry.result.error, UnexpectedError)
    assert entry.result.error.message == error.message


async def test_kvcache_delete_and_clear_only_touch_its_prefix(kv: KVStore) -> None:
    cache = KVCache(kv, prefix="c1:")
    other = KVCache(kv, prefix="c2:")
    await cache.set("a", CacheEntry(Ok(1)))
    await cache.set("b", CacheEntry(Ok(2)))
    await other.set("a", CacheEntry(Ok(3)))
    await cache.delete("a")
    assert await cache.get("a") is None
    await cache.clear()
    assert await cache.get("b") is None
    assert await other.get("a") == CacheEntry(Ok(3))


async def test_kvcache_ttl_default_and_override(backend) -> None:
    cache = KVCache(backend.kv, ttl=backend.short_ttl)
    await cache.set("default", CacheEntry(Ok(1)))
    await cache.set("longer", CacheEntry(Ok(2)), ttl=3600)
    await backend.wait_until_expired("step:default")
    assert await cache.get("default") is None
    assert await cache.get("longer") == CacheEntry(Ok(2))


@pytest.mark.parametrize(
    "stored",
    [
        "{oops",
        "[]",
        '{"result": {"ok": true, "value": 1}}',  # no format
        '{"format": 7, "result": {"ok": true, "value": 1}}',
        '{"format": 1, "meta": {}}',
        '{"format": 1, "result": {"ok": "yes"}}',
        # valid JSON, but nested deeper than the decoder can recurse
        '{"format": 1, "result": {"ok": true, "value": ' + "[" * 900 + "]" * 900 + "}}",
        # past Python's own limits: int digits, and JSON nesting
        '{"format": 1, "result": {"ok": true, "value": ' + "9" * 5000 + "}}",
        "[" * 100_000 + "]" * 100_000,
    ],
)
async def test_kvcache_corrupt_entry_is_a_typed_error(kv: KVStore, stored: str) -> None:
    await kv.set("step:bad", stored)
    with pytest.raises(CorruptEntryError) as raised:
        await KVCache(kv).get("bad")
    assert raised.value.key == "step:bad"


async def test_kvcache_rejects_unserializable_values(kv: KVStore) -> None:
    cache = KVCache(kv)
    with pytest.raises(SerializationError):
        await cache.set("x", CacheEntry(Ok(object())))
    assert await cache.get("x") is None


async def test_kvcache_serves_as_a_run_cache(kv: KVStore) -> None:
    calls: list[str] = []

    async def fetch(sku: str) -> Ok[int]:
        calls.append(sku)
        return Ok(len(sku))

    async def body(step: Step[PersistedOutOfStock]) -> int:
        first = await step(lambda: fetch("abc"), key="fetch:abc")
        second = await step(lambda: fetch("abc"), key="fetch:abc")
        return first + second

    assert await run(body, cache=KVCache(kv)) == Ok(6)
    assert await run(body, cache=KVCache(kv)) == Ok(6)  # a new cache on the same store
    assert calls == ["abc"]


# -- HydratingCache -----------------------------------------------------------------


class CountingPersistence(StatePersistence):
    """Counts loads, to show hydration happens once."""

    loads = 0

    async def load(self, run_id: str) -> LoadedState | None:
        self.loads += 1
        await asyncio.sleep(0)  # let concurrent callers pile up
        return await super().load(run_id)


async def test_hydrating_cache_loads_persisted_steps_on_first_get(kv: KVStore) -> None:
    persistence = CountingPersistence(kv)
    await persistence.save("run-1", sample_state())
    memory = MemoryCache()
    cache = HydratingCache(memory, persistence, "run-1")
    assert isinstance(cache, AsyncStepCache)
    assert len(memory) == 0 and not cache.hydrated

    found = await asyncio.gather(*(cache.get(key) for key in sample_state()))
    assert found == list(sample_state().values())
    assert persistence.loads == 1
    assert cache.hydrated and len(memory) == 4
    assert await cache.hydrate() == 0  # already done


async def test_hydrate_reports_how_many_steps_it_loaded(kv: KVStore) -> None:
    persistence = StatePersistence(kv)
    await persistence.save("r", sample_state())
    cache = HydratingCache(MemoryCache(), persistence, "r")
    assert await cache.hydrate() == 4
    assert await cache.hydrate() == 0


async def test_hydrating_without_saved_state_is_empty(kv: KVStore) -> None:
    cache = HydratingCache(MemoryCache(), StatePersistence(kv), "never-saved")
    assert await cache.get("a") is None
    assert cache.hydrated


async def test_hydrating_cache_over_an_async_cache(kv: KVStore) -> None:
    persistence = StatePersistence(kv)
    await persistence.save("r", {"a": CacheEntry(Ok(1))})
    inner = KVCache(MemoryKV())
    cache = HydratingCache(inner, persistence, "r")
    await cache.set("b", CacheEntry(Ok(2)))  # a write hydrates first too
    assert await inner.get("a") == CacheEntry(Ok(1))
    assert await cache.get("b") == CacheEntry(Ok(2))


async def test_hydrating_cache_delete_and_clear(kv: KVStore) -> None:
    persistence = StatePersistence(kv)
    await persistence.save("r", {"a": CacheEntry(Ok(1)), "b": CacheEntry(Ok(2))})
    cache = HydratingCache(MemoryCache(), persistence, "r")
    await cache.delete("a")  # hydrates, then deletes: it stays deleted
    assert await cache.get("a") is None
    assert await cache.get("b") == CacheEntry(Ok(2))

    cleared = HydratingCache(MemoryCache(), persistence, "r")
    await cleared.clear()  # clearing first means nothing is loaded later
    assert await cleared.get("b") is None
    assert await persistence.load("r") is not None  # the saved state is untouched


async def test_hydrating_cache_corrupt_state_raises_and_retries(kv: KVStore) -> None:
    persistence = StatePersistence(kv)
    await kv.set("state:r", "{broken")
    cache = HydratingCache(MemoryCache(), persistence, "r")
    with pytest.raises(CorruptEntryError):
        await cache.get("a")
    assert not cache.hydrated
    await persistence.save("r", {"a": CacheEntry(Ok(1))})  # repaired
    assert await cache.get("a") == CacheEntry(Ok(1))


async def test_resume_a_run_from_persisted_steps(kv: KVStore) -> None:
    persistence = StatePersistence(kv)
    calls: list[str] = []

    async def charge(amount: int) -> Ok[str] | Err[PersistedOutOfStock]:
        calls.append(f"charge {amount}")
        return Ok(f"paid {amount}")

    async def ship() -> Ok[str] | Err[PersistedOutOfStock]:
        calls.append("ship")
        return Err(PersistedOutOfStock("crate"))

    async def body(step: Step[PersistedOutOfStock]) -> str:
        paid = await step(lambda: charge(10), key="charge")
        shipped = await step(ship, key="ship")
        return f"{paid}, {shipped}"

    collector = StepCollector()
    first = await run(body, on_event=collector)
    assert first == Err(PersistedOutOfStock("crate"))
    await persistence.save("order-7", collector.state())

    cache = HydratingCache(MemoryCache(), persistence, "order-7")
    second = await run(body, cache=cache)
    assert second == Err(PersistedOutOfStock("crate"))  # the cached Err is replayed
    assert calls == ["charge 10", "ship"]  # nothing ran twice


@pytest.mark.parametrize(
    "content",
    [b'{"key": "x", "value": "v", "expires_at": ' + b"9" * 5000 + b"}", b"[" * 100_000],
)
async def test_one_damaged_file_breaks_no_listing_and_reads_as_corrupt(
    tmp_path: Any, content: bytes
) -> None:
    kv = FileKV(tmp_path)
    states, cache = StatePersistence(kv), KVCache(kv)
    await states.save("good", sample_state())
    await states.save("bad", sample_state())
    await cache.set("good", CacheEntry(Ok(1)))
    await cache.set("bad", CacheEntry(Ok(2)))
    (tmp_path / file_name_for("state:bad")).write_bytes(content)
    (tmp_path / file_name_for("step:bad")).write_bytes(content)

    assert (await states.list()).items == ["good"]
    with pytest.raises(CorruptEntryError) as raised:
        await states.load("bad")
    assert raised.value.key == "state:bad"
    assert isinstance(await states.load_result("bad"), Err)
    with pytest.raises(CorruptEntryError):
        await cache.get("bad")
    assert await kv.purge_expired() == 0
    await cache.clear()
    assert await cache.get("good") is None
    assert (await states.list()).items == ["good"]
