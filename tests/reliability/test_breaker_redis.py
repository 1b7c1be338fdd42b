"""RedisBreakerStore against the real Redis: shared state, atomic trials, other processes."""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from resultflow.errors import CircuitOpen, UnexpectedError
from resultflow.reliability._breaker import (
    BreakerStats,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
)
from resultflow.reliability._breaker_redis import RedisBreakerStore
from resultflow.reliability._breaker_store import BreakerStore, BreakerStoreError
from resultflow.result import Err, Ok, Result
from resultflow.testing._clock import TestClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
START = 1_700_000_000.0
SRC = str(Path(__file__).resolve().parents[2] / "src")


async def ok() -> Result[str, str]:
    return Ok("fine")


async def err() -> Result[str, str]:
    return Err("down")


async def delete_keys(url: str, prefix: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
async def store(redis_url: str, redis_prefix: str) -> AsyncIterator[RedisBreakerStore]:
    async with RedisBreakerStore(redis_url, prefix=redis_prefix) as made:
        yield made
    await delete_keys(redis_url, redis_prefix)


@pytest.fixture
def clock() -> TestClock:
    return TestClock(START)


def make(store: BreakerStore, clock: TestClock, **options: object) -> CircuitBreaker:
    settings: dict[str, object] = {"failure_threshold": 3, "reset_timeout": 30.0}
    settings.update(options)
    return CircuitBreaker("svc", store=store, clock=clock, **settings)  # type: ignore[arg-type]


async def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.config.failure_threshold):
        await breaker.call_result(err)
    assert breaker.stats().state is OPEN


# -- the state machine, run by the Lua script ------------------------------------------


async def test_full_cycle_through_redis(store: RedisBreakerStore, clock: TestClock) -> None:
    changes: list[tuple[CircuitState, CircuitState]] = []
    breaker = make(
        store, clock, success_threshold=2, on_state_change=lambda o, n: changes.append((o, n))
    )
    assert isinstance(store, BreakerStore)
    await breaker.call_result(err)
    await breaker.call_result(ok)
    assert breaker.stats() == BreakerStats(CLOSED, 1, 1, 0, 0.0)
    await breaker.call_result(err)
    await breaker.call_result(err)
    assert breaker.stats() == BreakerStats(OPEN, 3, 1, 0, 30.0)
    clock.advance(12.5)
    assert await breaker.call_result(ok) == Err(CircuitOpen("svc", 17.5))
    clock.advance(17.5)
    assert breaker.stats().state is HALF_OPEN
    assert await breaker.call_result(ok) == Ok("fine")
    assert (await breaker.fetch_stats()).half_open_successes == 1
    assert await breaker.call_result(err) == Err("down")  # a trial failure reopens
    assert breaker.stats().retry_after == 30.0
    clock.advance(30.0)
    assert await breaker.call_result(ok) == Ok("fine")
    assert await breaker.call_result(ok) == Ok("fine")
    assert await breaker.fetch_stats() == BreakerStats(CLOSED, 0, 0, 0, 0.0)
    assert changes == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


async def test_window_and_reset_through_redis(store: RedisBreakerStore, clock: TestClock) -> None:
    breaker = make(store, clock, window=10.0)
    await breaker.call_result(err)
    await breaker.call_result(err)
    clock.advance(10.0)
    await breaker.call_result(err)
    assert (await breaker.fetch_stats()).failure_count == 1
    clock.advance(9.0)
    await breaker.call_result(err)
    await breaker.call_result(err)
    assert breaker.stats().state is OPEN
    await breaker.reset()
    assert await breaker.fetch_stats() == BreakerStats(CLOSED, 0, 0, 0, 0.0)
    assert await breaker.call_result(ok) == Ok("fine")


async def test_a_call_from_before_a_reset_does_not_reopen_through_redis(
    store: RedisBreakerStore, clock: TestClock
) -> None:
    breaker = make(store, clock, failure_threshold=1)
    started, gate = asyncio.Event(), asyncio.Event()

    async def slow_failure() -> Result[str, str]:
        started.set()
        await gate.wait()
        return Err("late")

    late = asyncio.create_task(breaker.call_result(slow_failure))
    await started.wait()  # admitted while CLOSED
    await breaker.reset()
    gate.set()
    assert await late == Err("late")
    stats = await breaker.fetch_stats()
    assert (stats.state, stats.failure_count) == (CLOSED, 1)
    assert await breaker.call_result(err) == Err("down")
    assert breaker.stats().state is OPEN


async def test_keys_live_under_the_prefix_and_expire(
    store: RedisBreakerStore, clock: TestClock, redis_url: str, redis_prefix: str
) -> None:
    await trip(make(store, clock))
    state_key, failures_key, _ = store.keys_for("svc")
    assert state_key == f"{redis_prefix}{{svc}}:state"
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        assert await client.hget(state_key, "state") == "open"
        assert await client.zcard(failures_key) == 3
        ttl_ms = await client.pttl(state_key)
        assert 0 < ttl_ms <= (2 * 60 + 60) * 1000
        await store.delete("svc")
        assert await client.exists(*store.keys_for("svc")) == 0
        assert store.peek("svc") is None
    finally:
        await client.aclose()


async def test_fifty_concurrent_callers_get_at_most_half_open_max_trials(
    store: RedisBreakerStore, clock: TestClock
) -> None:
    breaker = make(store, clock, half_open_max=3, success_threshold=3)
    await trip(breaker)
    clock.advance(30.0)
    active = peak = 0
    gate = asyncio.Event()

    async def trial() -> Result[str, str]:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await gate.wait()
        active -= 1
        return Ok("probe")

    tasks = [asyncio.create_task(breaker.call_result(trial)) for _ in range(50)]
    refusals_in = asyncio.Event()

    def settled(_: object) -> None:
        if sum(task.done() for task in tasks) == 47:
            refusals_in.set()

    for task in tasks:
        task.add_done_callback(settled)
    try:
        await asyncio.wait_for(refusals_in.wait(), 10)  # Redis round trips are real I/O
    finally:
        gate.set()
        results = await asyncio.gather(*tasks)
    assert peak == 3
    assert results.count(Ok("probe")) == 3
    assert results.count(Err(CircuitOpen("svc", 0.0))) == 47
    assert (await breaker.fetch_stats()).state is CLOSED


async def test_a_cancelled_trial_frees_its_redis_slot(
    store: RedisBreakerStore, clock: TestClock
) -> None:
    breaker = make(store, clock)
    await trip(breaker)
    clock.advance(30.0)
    started = asyncio.Event()

    async def hangs() -> Result[str, str]:
        started.set()
        await asyncio.Event().wait()
        return Ok("never")

    task = asyncio.create_task(breaker.call_result(hangs))
    await started.wait()
    try:
        assert await breaker.call_result(ok) == Err(CircuitOpen("svc", 0.0))
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await breaker.call_result(ok) == Ok("fine")


async def test_two_breakers_with_one_name_share_state(
    redis_url: str, redis_prefix: str, clock: TestClock
) -> None:
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        async with RedisBreakerStore(redis_url, prefix=redis_prefix) as first_store:
            second_store = RedisBreakerStore(client, prefix=redis_prefix)
            other_prefix = RedisBreakerStore(client, prefix=redis_prefix + "other:")
            first = make(first_store, clock)
            second = make(second_store, clock)
            elsewhere = make(other_prefix, clock)
            await first.call_result(err)
            await second.call_result(err)
            await first.call_result(err)
            assert second.stats().state is CLOSED  # stats() shows what this store last saw
            assert (await second.fetch_stats()).state is OPEN
            with pytest.raises(CircuitOpenError):
                await second.call(ok)
            assert await elsewhere.call_result(ok) == Ok("fine")
            await second_store.aclose()  # a client we passed in stays open
        assert await client.ping() is True
    finally:
        await client.aclose()
        await delete_keys(redis_url, redis_prefix)


# -- several processes -----------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from resultflow.reliability._breaker import CircuitBreaker
    from resultflow.reliability._breaker_redis import RedisBreakerStore
    from resultflow.result import Err, Ok
    from resultflow.testing._clock import TestClock

    url, prefix, action, now = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    async def main():
        ran = []

        async def work():
            ran.append(action)
            return Err("down") if action == "fail" else Ok("fine")

        async with RedisBreakerStore(url, prefix=prefix) as store:
            breaker = CircuitBreaker(
                "shared", failure_threshold=3, reset_timeout=30.0,
                store=store, clock=TestClock(now),
            )
            outcomes = []
            for _ in range(3 if action == "fail" else 1):
                result = await breaker.call_result(work)
                outcomes.append(repr(result))
            stats = await breaker.fetch_stats()
        print(json.dumps({"ran": len(ran), "outcomes": outcomes, "state": stats.state.value,
                          "retry_after": stats.retry_after}))

    asyncio.run(main())
    """
)


async def run_worker(
    tmp_path: Path, url: str, prefix: str, action: str, now: float
) -> dict[str, object]:
    script = tmp_path / "breaker_worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        url,
        prefix,
        action,
        repr(now),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, errors = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, errors.decode()
    answer: dict[str, object] = json.loads(out)
    return answer


@pytest.mark.slow
async def test_failures_in_one_process_open_the_breaker_in_another(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    try:
        a = await run_worker(tmp_path, redis_url, redis_prefix, "fail", START)
        assert a == {
            "ran": 3,
            "outcomes": ["Err('down')"] * 3,
            "state": "open",
            "retry_after": 30.0,
        }
        b = await run_worker(tmp_path, redis_url, redis_prefix, "probe", START + 10.0)
        assert b == {
            "ran": 0,
            "outcomes": ["Err(CircuitOpen(breaker='shared', retry_after=20.0))"],
            "state": "open",
            "retry_after": 20.0,
        }
        # This process sees the same state through its own store.
        async with RedisBreakerStore(redis_url, prefix=redis_prefix) as store:
            here = CircuitBreaker("shared", store=store, clock=TestClock(START + 25.0))
            assert await here.call_result(ok) == Err(CircuitOpen("shared", 5.0))
    finally:
        await delete_keys(redis_url, redis_prefix)


@pytest.mark.slow
async def test_a_trial_held_in_one_process_blocks_trials_in_another(
    tmp_path: Path, redis_url: str, redis_prefix: str
) -> None:
    try:
        await run_worker(tmp_path, redis_url, redis_prefix, "fail", START)
        half_open_at = START + 30.0
        async with RedisBreakerStore(redis_url, prefix=redis_prefix) as store:
            here = CircuitBreaker(
                "shared", failure_threshold=3, store=store, clock=TestClock(half_open_at)
            )
            holding = asyncio.Event()
            release = asyncio.Event()

            async def trial() -> Result[str, str]:
                holding.set()
                await release.wait()
                return Ok("recovered")

            trial_task = asyncio.create_task(here.call_result(trial))
            await holding.wait()
            other = await run_worker(tmp_path, redis_url, redis_prefix, "probe", half_open_at)
            assert other["ran"] == 0
            assert other["outcomes"] == ["Err(CircuitOpen(breaker='shared', retry_after=0.0))"]
            assert other["state"] == "half_open"
            release.set()
            assert await trial_task == Ok("recovered")
        after = await run_worker(tmp_path, redis_url, redis_prefix, "probe", half_open_at + 1)
        assert after == {
            "ran": 1,
            "outcomes": ["Ok('fine')"],
            "state": "closed",
            "retry_after": 0.0,
        }
    finally:
        await delete_keys(redis_url, redis_prefix)


# -- Redis down, extra missing -----------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_down_redis_gives_a_clear_typed_error(clock: TestClock) -> None:
    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/0"
    async with RedisBreakerStore(url) as store:
        breaker = CircuitBreaker("payments", store=store, clock=clock)
        ran = False

        async def tracked() -> Result[str, str]:
            nonlocal ran
            ran = True
            return Ok("fine")

        with pytest.raises(BreakerStoreError) as info:
            await breaker.call(tracked)
        message = str(info.value)
        assert "breaker 'payments'" in message
        assert "during admit" in message
        assert "s3cret" not in message
        assert ":***@127.0.0.1" in message

        refused = await breaker.call_result(tracked)
        assert isinstance(refused, Err)
        assert isinstance(refused.error, UnexpectedError)
        assert refused.error.exception_type == ("resultflow.errors.BreakerStoreError")
        assert "Redis store at" in refused.error.message
        assert ran is False
        with pytest.raises(BreakerStoreError):
            await breaker.fetch_stats()
        with pytest.raises(BreakerStoreError):
            await breaker.reset()
        assert breaker.stats() == BreakerStats(CLOSED, 0, 0, 0, 0.0)


def test_a_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("redis", "redis.asyncio", "redis.asyncio.utils", "redis.exceptions"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"resultflow\[redis\]"):
        RedisBreakerStore("redis://127.0.0.1:6379/0")


# -- garbage in the keys is a typed error, and is repaired -------------------------------

GARBAGE: list[tuple[str, dict[str, str]]] = [
    ("unknown state", {"state": "pwned"}),
    ("opened_at", {"state": "open", "opened_at": "inf"}),
    ("opened_at", {"state": "open", "opened_at": "nan"}),
    ("opened_at", {"state": "open", "opened_at": "-inf"}),
    ("opened_at", {"state": "open", "opened_at": "soon"}),
    ("opened_at", {"state": "open", "opened_at": repr(START + 1e9)}),  # far ahead
    ("count", {"state": "closed", "success_count": "abc"}),
    ("count", {"state": "closed", "success_count": "-1"}),
    ("count", {"state": "half_open", "half_open_successes": "1.5"}),
    ("count", {"state": "closed", "generation": "1e400"}),
]


@pytest.mark.parametrize(("why", "fields"), GARBAGE)
async def test_garbage_state_is_a_typed_error_and_is_repaired(
    store: RedisBreakerStore, clock: TestClock, redis_url: str, why: str, fields: dict[str, str]
) -> None:
    breaker = make(store, clock)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.hset(store.keys_for("svc")[0], mapping=fields)  # type: ignore[misc]
        with pytest.raises(BreakerStoreError, match=f"unreadable breaker state.*{why}") as raised:
            await breaker.call(ok)
        assert raised.value.backend == "redis"
        assert await client.exists(*store.keys_for("svc")) == 0  # deleted, not kept
    finally:
        await client.aclose()
    assert await breaker.call(ok) == Ok("fine")
    assert await breaker.fetch_stats() == BreakerStats(CLOSED, 0, 1, 0, 0.0)


@pytest.mark.parametrize("which", ["state", "failures", "trials"])
async def test_keys_of_the_wrong_type_or_future_times_are_repaired(
    store: RedisBreakerStore, clock: TestClock, redis_url: str, which: str
) -> None:
    breaker = make(store, clock)
    state_key, failures_key, trials_key = store.keys_for("svc")
    client = aioredis.Redis.from_url(redis_url)
    try:
        for wrong_type in (True, False):
            if wrong_type:
                key = {"state": state_key, "failures": failures_key, "trials": trials_key}[which]
                await client.set(key, "x")
            elif which == "state":
                continue
            else:  # a failure or a trial lease stamped forever ahead never ages out
                key = failures_key if which == "failures" else trials_key
                await client.zadd(key, {"forged": float("inf")})
            with pytest.raises(BreakerStoreError, match="unreadable breaker state"):
                await breaker.call(ok)
            assert await client.exists(state_key, failures_key, trials_key) == 0
            assert await breaker.call(ok) == Ok("fine")
    finally:
        await client.aclose()


async def test_a_refusal_never_asks_to_wait_past_the_state_keys_expiry(
    store: RedisBreakerStore, clock: TestClock, redis_url: str
) -> None:
    breaker = make(store, clock, reset_timeout=3600.0)
    await trip(breaker)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.pexpire(store.keys_for("svc")[0], 5000)  # the state goes in 5 s
    finally:
        await client.aclose()
    refused = await breaker.call_result(ok)
    assert isinstance(refused, Err) and isinstance(refused.error, CircuitOpen)
    assert refused.error.retry_after is not None
    assert 0 < refused.error.retry_after <= 5.0


async def test_huge_timeouts_are_capped_in_redis_and_infinite_ones_refused(
    store: RedisBreakerStore, clock: TestClock, redis_url: str
) -> None:
    breaker = make(store, clock, reset_timeout=1e300, window=1e300)
    await trip(breaker)
    client = aioredis.Redis.from_url(redis_url)
    try:
        ttl_ms = await client.pttl(store.keys_for("svc")[0])
    finally:
        await client.aclose()
    assert 0 < ttl_ms <= 10 * 365 * 24 * 3600 * 1000
    for bad in (math.inf, math.nan):
        with pytest.raises(ValueError, match="finite"):
            make(store, clock, reset_timeout=bad)
        with pytest.raises(ValueError, match="finite"):
            make(store, clock, window=bad)


# -- a namespace of its own ---------------------------------------------------------------


async def test_default_prefixes_of_kv_breaker_and_limiter_are_disjoint(redis_url: str) -> None:
    """A `RedisKV` key can never be a guard's key, and a KV scan never lists them."""
    from resultflow.persistence._kv_redis import RedisKV
    from resultflow.reliability._limiters.combined import RateLimiter
    from resultflow.reliability._limiters.redis import RedisLimiterStore

    name = f"ns-{os.getpid()}-{id(redis_url)}"
    kv = RedisKV(redis_url)
    async with RedisBreakerStore(redis_url) as breakers, RedisLimiterStore(redis_url) as limiters:
        try:
            # What collided before: KV keys spelled like the guards' keys.
            await kv.set(f"limiter:{name}", "not a bucket")
            await kv.set(f"breaker:{{{name}}}:state", "not a hash")
            breaker = CircuitBreaker(name, store=breakers, clock=TestClock(START))
            limiter = RateLimiter(name, rate=1.0, burst=2, strategy="reject", store=limiters)
            assert await breaker.call(ok) == Ok("fine")
            await limiter.acquire()
            listed = [key async for key in kv.scan("")]
            assert sorted(key for key in listed if name in key) == [
                f"breaker:{{{name}}}:state",
                f"limiter:{name}",
            ]
            for prefix in (breakers.prefix, limiters.prefix):
                assert not prefix.startswith(kv.prefix) and not kv.prefix.startswith(prefix)
            assert not breakers.prefix.startswith(limiters.prefix)
            assert not limiters.prefix.startswith(breakers.prefix)
        finally:
            await kv.delete(f"limiter:{name}")
            await kv.delete(f"breaker:{{{name}}}:state")
            await breakers.delete(name)
            await limiters.client.delete(limiters.key_for(name))
            await kv.close()


def test_an_empty_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="prefix"):
        RedisBreakerStore("redis://127.0.0.1:6379/0", prefix="")
