"""RedisLimiterStore against the real Redis: one bucket shared by limiters and processes."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from resultflow.errors import RateLimited
from resultflow.reliability._limiters.combined import (
    LimiterStore,
    LimiterStoreError,
    RateLimitedError,
    RateLimiter,
)
from resultflow.reliability._limiters.redis import RedisLimiterStore
from resultflow.reliability._limiters.store import BucketSpec
from resultflow.result import Err, Ok, Result

pytestmark = pytest.mark.services

SRC = str(Path(__file__).resolve().parents[2] / "src")


async def delete_keys(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def store(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisLimiterStore]:
    async with RedisLimiterStore(redis_url, prefix=redis_prefix) as made:
        yield made
    await delete_keys(redis_url, redis_prefix)


async def ok() -> Result[str, str]:
    return Ok("ran")


async def test_two_limiters_with_one_store_share_a_bucket(store: RedisLimiterStore) -> None:
    assert isinstance(store, LimiterStore)
    first = RateLimiter("shared", rate=1.0, burst=3, strategy="reject", store=store)
    second = RateLimiter("shared", rate=1.0, burst=3, strategy="reject", store=store)
    await first.acquire()
    await first.acquire()
    assert await second.call_result(ok) == Ok("ran")
    refused = await second.call_result(ok)
    assert isinstance(refused, Err)
    assert isinstance(refused.error, RateLimited)
    assert refused.error.limiter == "shared"
    # Three tokens gone at 1 token/s: about a second to the next one.
    assert refused.error.retry_after is not None
    assert 0.8 < refused.error.retry_after <= 1.0
    with pytest.raises(RateLimitedError):
        await first.acquire()


async def test_separate_clients_share_the_bucket_by_name(
    store: RedisLimiterStore, redis_url: str, redis_prefix: str
) -> None:
    async with RedisLimiterStore(redis_url, prefix=redis_prefix) as other_store:
        here = RateLimiter("api", rate=1.0, burst=2, strategy="reject", store=store)
        there = RateLimiter("api", rate=1.0, burst=2, strategy="reject", store=other_store)
        unrelated = RateLimiter("other", rate=1.0, burst=2, strategy="reject", store=other_store)
        await here.acquire()
        await there.acquire()
        with pytest.raises(RateLimitedError):
            await here.acquire()
        with pytest.raises(RateLimitedError):
            await there.acquire()
        await unrelated.acquire()


async def test_wait_strategy_polls_redis_until_a_token_arrives(store: RedisLimiterStore) -> None:
    limiter = RateLimiter("paced", rate=40.0, burst=1, store=store)
    started = time.monotonic()
    for _ in range(4):
        await limiter.acquire()
    elapsed = time.monotonic() - started
    # 1 token at once, then 3 more at 40/s: at least 75 ms, well under the 0.2 s budget.
    assert 0.07 <= elapsed < 0.5
    assert limiter.stats().waiting == 0


async def test_stats_and_fetch_stats_read_the_shared_bucket(
    store: RedisLimiterStore, redis_url: str, redis_prefix: str
) -> None:
    limiter = RateLimiter("counted", rate=0.01, burst=5, strategy="reject", store=store)
    assert limiter.stats().available_tokens == 5.0  # never seen: a fresh bucket is full
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.stats().available_tokens == pytest.approx(3.0, abs=0.01)
    async with RedisLimiterStore(redis_url, prefix=redis_prefix) as other_store:
        other = RateLimiter("counted", rate=0.01, burst=5, strategy="reject", store=other_store)
        assert other.stats().available_tokens == 5.0  # an estimate: it has not asked yet
        assert (await other.fetch_stats()).available_tokens == pytest.approx(3.0, abs=0.01)


async def test_reset_refills_the_shared_bucket(
    store: RedisLimiterStore, redis_url: str, redis_prefix: str
) -> None:
    limiter = RateLimiter("resettable", rate=0.01, burst=2, strategy="reject", store=store)
    await limiter.acquire()
    await limiter.acquire()
    with pytest.raises(RateLimitedError):
        await limiter.acquire()
    limiter.reset()
    assert limiter.stats().available_tokens == 2.0
    await limiter.acquire()  # the refill is applied by this call's script, before the take
    async with RedisLimiterStore(redis_url, prefix=redis_prefix) as other_store:
        other = RateLimiter("resettable", rate=0.01, burst=2, strategy="reject", store=other_store)
        assert (await other.fetch_stats()).available_tokens == pytest.approx(1.0, abs=0.01)


async def test_reset_without_a_following_take_is_applied_by_fetch_stats(
    store: RedisLimiterStore,
) -> None:
    limiter = RateLimiter("resettable", rate=0.01, burst=2, strategy="reject", store=store)
    await limiter.acquire()
    limiter.reset()
    assert (await limiter.fetch_stats()).available_tokens == 2.0


async def test_one_reset_refills_once_even_with_calls_in_flight(store: RedisLimiterStore) -> None:
    limiter = RateLimiter("reset-once", rate=0.01, burst=3, strategy="reject", store=store)
    for _ in range(3):
        await limiter.acquire()
    limiter.reset()
    # Both calls are sent before either reply arrives: only one may carry the refill,
    # or the take's token would be handed back by the second refill.
    await asyncio.gather(limiter.acquire(), limiter.fetch_stats())
    admitted = 0
    while admitted < 5:
        try:
            await limiter.acquire()
        except RateLimitedError:
            break
        admitted += 1
    assert admitted == 2


async def test_bucket_key_expires_once_it_would_be_full(
    store: RedisLimiterStore, redis_url: str
) -> None:
    limiter = RateLimiter("expiring", rate=2.0, burst=4, strategy="reject", store=store)
    await limiter.acquire()
    client = aioredis.Redis.from_url(redis_url)
    try:
        ttl_ms = await client.pttl(store.key_for("expiring"))
        fields = await client.hgetall(store.key_for("expiring"))
    finally:
        await client.aclose()
    # Empty to full takes burst / rate = 2 s; the key lives that long plus a second.
    assert 2000 < ttl_ms <= 3000
    assert float(fields[b"tokens"]) == pytest.approx(3.0, abs=0.01)
    assert store.key_for("expiring").startswith(store.prefix)


async def test_a_down_redis_is_a_clear_store_error() -> None:
    async with RedisLimiterStore("redis://user:secret@127.0.0.1:1/0") as down:
        limiter = RateLimiter("api", store=down)
        with pytest.raises(LimiterStoreError) as failure:
            await limiter.acquire()
        message = str(failure.value)
        assert "'api'" in message
        assert "127.0.0.1:1" in message
        assert "secret" not in message
        assert "***" in repr(down)
        refused = await limiter.call_result(ok)  # a guard's call_result does not raise
        assert isinstance(refused, Err) and isinstance(refused.cause, LimiterStoreError)
        assert limiter.stats().waiting == 0  # a failed waiter leaves the queue


async def test_a_client_passed_in_is_not_closed_by_the_store(
    redis_url: str, redis_prefix: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        async with RedisLimiterStore(client, prefix=redis_prefix) as made:
            limiter = RateLimiter("mine", rate=1.0, burst=1, strategy="reject", store=made)
            await limiter.acquire()
        assert await client.ping() is True
    finally:
        await delete_keys(redis_url, redis_prefix)
        await client.aclose()


def test_missing_redis_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio.utils", None)
    with pytest.raises(ImportError, match=r"resultflow\[redis\]"):
        RedisLimiterStore("redis://127.0.0.1:6379/0")


# -- many processes, one bucket --------------------------------------------------------

_HAMMER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    from resultflow.reliability._limiters.combined import RateLimitedError, RateLimiter
    from resultflow.reliability._limiters.redis import RedisLimiterStore

    url, prefix, strategy, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    async def main():
        async with RedisLimiterStore(url, prefix=prefix) as store:
            limiter = RateLimiter("hammered", rate=100.0, burst=5, strategy=strategy, store=store)
            await limiter.fetch_stats()  # connect before the clock starts
            admitted = 0
            start = time.time()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    await limiter.acquire()
                except RateLimitedError:
                    await asyncio.sleep(0.002)
                    continue
                admitted += 1
            print(json.dumps({"admitted": admitted, "start": start, "end": time.time()}))

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_processes_hammering_one_bucket_stay_within_its_capacity(
    redis_url: str, redis_prefix: str
) -> None:
    rate, burst, seconds = 100.0, 5.0, 0.6
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _HAMMER, redis_url, redis_prefix, strategy, str(seconds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for strategy in ("wait", "wait", "reject")
    ]
    try:
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
            reports.append(json.loads(out))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        asyncio.run(delete_keys(redis_url, redis_prefix))
    total = sum(report["admitted"] for report in reports)
    window = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    longest = max(r["end"] - r["start"] for r in reports)
    # Redis time decides, so the bucket can never admit more than it holds plus refills.
    assert total <= burst + rate * window + 1, (total, window, reports)
    # ... and the processes really did share it at about the rate, not starve.
    assert total >= rate * longest * 0.5, (total, longest, reports)
    assert all(report["admitted"] > 0 for report in reports), reports
    print(f"admitted {total} in {window:.3f} s across {len(reports)} processes: {reports}")


# -- garbage in a bucket is a typed error, and is repaired --------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"tokens": "abc", "at": "1"},
        {"tokens": "-1e308", "at": "1"},  # a waiter would sleep ~forever
        {"tokens": "-1", "at": "1"},
        {"tokens": "nan", "at": "1"},
        {"tokens": "inf", "at": "1"},
        {"tokens": "1", "at": "inf"},
        {"tokens": "1", "at": "nan"},
        {"tokens": "1", "at": "1e300"},  # counted in the far future: never refills
        {"tokens": "1"},
        {"at": "1"},
    ],
)
async def test_garbage_in_a_bucket_is_a_typed_error_and_is_repaired(
    store: RedisLimiterStore, redis_url: str, fields: dict[str, str]
) -> None:
    limiter = RateLimiter("garbled", rate=1.0, burst=2, store=store)  # the wait strategy
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.hset(store.key_for("garbled"), mapping=fields)  # type: ignore[misc]
        # The bound only turns a regression (a waiter sleeping ~forever) into a failure.
        async with asyncio.timeout(30):
            with pytest.raises(LimiterStoreError, match="unreadable limiter state"):
                await limiter.acquire()
        assert await client.exists(store.key_for("garbled")) == 0  # deleted, not kept
    finally:
        await client.aclose()
    await limiter.acquire()  # a new, full bucket
    assert limiter.stats().waiting == 0


async def test_a_bucket_key_of_the_wrong_type_is_repaired(
    store: RedisLimiterStore, redis_url: str
) -> None:
    limiter = RateLimiter("typed", rate=1.0, burst=2, strategy="reject", store=store)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.set(store.key_for("typed"), "not a hash")
        with pytest.raises(LimiterStoreError, match="wrong type") as raised:
            await limiter.acquire()
        assert raised.value.backend == "redis"
    finally:
        await client.aclose()
    await limiter.acquire()


async def test_a_wait_is_capped_by_the_keys_own_expiry(
    store: RedisLimiterStore, redis_url: str
) -> None:
    spec = BucketSpec(capacity=1, refill_rate=0.001)  # a token every 1000 s
    assert await store.take("slow", spec, 0.0) == 0.0
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.pexpire(store.key_for("slow"), 2000)  # the bucket is full in 2 s
    finally:
        await client.aclose()
    assert 0 < await store.take("slow", spec, 0.0) <= 2.0


async def test_huge_buckets_are_capped_in_redis_and_infinite_ones_refused(
    store: RedisLimiterStore, redis_url: str
) -> None:
    limiter = RateLimiter("glacial", rate=1e-300, burst=1e300, strategy="reject", store=store)
    await limiter.acquire()
    client = aioredis.Redis.from_url(redis_url)
    try:
        ttl_ms = await client.pttl(store.key_for("glacial"))
    finally:
        await client.aclose()
    assert 0 < ttl_ms <= 10 * 365 * 24 * 3600 * 1000
    for options in ({"rate": math.inf}, {"burst": math.inf}, {"burst": math.nan}):
        with pytest.raises(ValueError, match=r"finite|burst"):
            RateLimiter("bad", store=store, **options)  # type: ignore[arg-type]


def test_an_empty_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisLimiterStore("redis://127.0.0.1:6379/0", prefix="")
