"""RedisKV specifics, against the real server: prefixes, glob escaping, clients, failures."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from resultflow.persistence._kv import (
    CorruptEntryError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
)
from resultflow.persistence._kv_redis import RedisKV, glob_escape

pytestmark = pytest.mark.services


@pytest.fixture
async def raw(redis_url: str, redis_prefix: str) -> AsyncIterator[Redis]:
    """A plain client on the test database; deletes the test's keys afterwards."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        names = [name async for name in client.scan_iter(match=glob_escape(redis_prefix) + "*")]
        if names:
            await client.delete(*names)
        await client.aclose()


async def test_keys_live_under_the_prefix(redis_url: str, redis_prefix: str, raw: Redis) -> None:
    kv = RedisKV(redis_url, prefix=redis_prefix)
    await kv.set("order:1", "v")
    assert await raw.get(f"{redis_prefix}order:1") == b"v"
    await raw.set(f"{redis_prefix}order:2", "set elsewhere")
    assert await kv.get("order:2") == "set elsewhere"
    assert sorted([key async for key in kv.scan("order:")]) == ["order:1", "order:2"]
    await kv.close()


async def test_ttl_is_redis_px(redis_url: str, redis_prefix: str, raw: Redis) -> None:
    kv = RedisKV(redis_url, prefix=redis_prefix)
    await kv.set("k", "v", ttl=30)
    assert 29_000 < await raw.pttl(f"{redis_prefix}k") <= 30_000
    await kv.set("tiny", "v", ttl=0.0001)  # rounds up to 1 ms, never to "no expiry"
    assert await raw.pttl(f"{redis_prefix}tiny") in (-2, 0, 1)
    await kv.set("k", "v")
    assert await raw.pttl(f"{redis_prefix}k") == -1  # a plain set removes the TTL
    await kv.close()


async def test_a_glob_prefix_does_not_leak_into_other_stores(
    redis_url: str, redis_prefix: str, raw: Redis
) -> None:
    starry = RedisKV(redis_url, prefix=f"{redis_prefix}[ab]*?:")
    plain = RedisKV(redis_url, prefix=f"{redis_prefix}a:")
    await starry.set("k1", "v")
    await plain.set("k2", "v")
    assert [key async for key in starry.scan("")] == ["k1"]
    assert [key async for key in plain.scan("")] == ["k2"]
    await starry.close()
    await plain.close()


def test_glob_escape() -> None:
    assert glob_escape("a*b?c[d]e\\f") == "a\\*b\\?c\\[d\\]e\\\\f"
    assert glob_escape("plain:key") == "plain:key"


async def test_a_callers_client_is_used_and_left_open(
    redis_url: str, redis_prefix: str, raw: Redis
) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        kv = RedisKV(client, prefix=redis_prefix)
        assert kv.client is client
        await kv.set("ключ", "значение")
        assert await kv.get("ключ") == "значение"
        assert [key async for key in kv.scan("")] == ["ключ"]
        await kv.close()
        assert await client.ping() is True  # still usable
        with pytest.raises(StoreClosedError):
            await kv.get("ключ")
    finally:
        await client.aclose()


async def test_foreign_bytes_are_reported_or_skipped(
    redis_url: str, redis_prefix: str, raw: Redis
) -> None:
    kv = RedisKV(redis_url, prefix=redis_prefix)
    await raw.set(f"{redis_prefix}binary".encode(), b"\xff\xfe")
    await raw.set(redis_prefix.encode() + b"\xff", b"v")
    with pytest.raises(CorruptEntryError, match="not UTF-8"):
        await kv.get("binary")
    assert [key async for key in kv.scan("")] == ["binary"]
    await kv.close()


async def test_foreign_bytes_through_a_decoding_client_are_reported_or_skipped(
    redis_url: str, redis_prefix: str, raw: Redis
) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)
    kv = RedisKV(client, prefix=redis_prefix)
    try:
        await kv.set("text", "ok")
        await raw.set(f"{redis_prefix}binary".encode(), b"\xff\xfe")
        await raw.set(redis_prefix.encode() + b"\xff", b"v")
        with pytest.raises(CorruptEntryError, match="not UTF-8"):
            await kv.get("binary")
        assert await kv.get("text") == "ok"
        assert sorted([key async for key in kv.scan("")]) == ["binary", "text"]
        assert await client.ping() is True  # the caller's client is still usable
    finally:
        await kv.close()
        await client.aclose()


async def test_a_server_that_is_down_is_unavailable_at_once() -> None:
    kv = RedisKV("redis://127.0.0.1:1/0", connect_timeout=1)
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="redis: ") as raised:
        await kv.get("k")
    assert raised.value.backend == "redis"
    with pytest.raises(StoreUnavailableError):
        await kv.set("k", "v")
    with pytest.raises(StoreUnavailableError):
        [key async for key in kv.scan("")]
    assert time.monotonic() - started < 1
    await kv.close()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError, match="URL"):
        RedisKV(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="key"):
        RedisKV("redis://localhost", prefix=None)  # type: ignore[arg-type]


def test_missing_redis_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    monkeypatch.delitem(sys.modules, "resultflow.persistence._kv_redis")
    with pytest.raises(ImportError, match=r"pip install resultflow\[redis\]"):
        importlib.import_module("resultflow.persistence._kv_redis")


async def test_compare_and_set_through_a_decoding_client_and_after_a_script_flush(
    redis_url: str, redis_prefix: str, raw: Redis
) -> None:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        kv = RedisKV(client, prefix=redis_prefix)
        assert await kv.compare_and_set("ключ", None, "значение", ttl=60) is True
        assert await kv.compare_and_set("ключ", "значение", "новое") is True
        assert await raw.get(f"{redis_prefix}ключ".encode()) == "новое".encode()
        assert await raw.ttl(f"{redis_prefix}ключ".encode()) == -1  # no TTL: permanent
        await raw.script_flush()  # the server forgot the script: it is loaded again
        assert await kv.compare_and_set("ключ", "новое", "ещё", ttl=60) is True
        assert 0 < await raw.pttl(f"{redis_prefix}ключ".encode()) <= 60_000
    finally:
        await client.aclose()


async def test_compare_and_set_on_foreign_values(
    redis_url: str, redis_prefix: str, raw: Redis
) -> None:
    kv = RedisKV(redis_url, prefix=redis_prefix)
    await raw.set(f"{redis_prefix}binary".encode(), b"\xff\xfe")
    assert await kv.compare_and_set("binary", None, "x") is False
    assert await kv.compare_and_set("binary", "\ufffd\ufffd", "x") is False
    await raw.rpush(f"{redis_prefix}list".encode(), b"item")
    with pytest.raises(StoreError, match="WRONGTYPE"):
        await kv.compare_and_set("list", None, "x")
    await kv.close()
