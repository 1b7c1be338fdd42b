"""Type-checked usage of the rate, concurrency and combined limiters (never executed)."""

from __future__ import annotations

from typing import TypeAlias, assert_type

from resultflow.errors import RateLimited, TaggedError, UnexpectedError
from resultflow.reliability import (
    CombinedLimiter,
    CombinedLimiterStats,
    ConcurrencyLimiter,
    ConcurrencyStats,
    Guard,
    LimiterStore,
    RateLimitedError,
    RateLimiter,
    RateLimiterStats,
    RedisLimiterStore,
    limiter_presets,
)
from resultflow.result import Err, Ok


class NotFound(TaggedError):
    id: str


Refused: TypeAlias = NotFound | RateLimited | UnexpectedError


async def fetch_user() -> Ok[str] | Err[NotFound]:
    return Ok("ada")


async def count() -> int:
    return 1


async def usage() -> None:
    rate = RateLimiter("api", rate=10.0, burst=20, strategy="reject")
    slots = ConcurrencyLimiter("db", max_concurrent=2, strategy="queue")
    both = CombinedLimiter("api+db", rate=rate, concurrency=slots)
    rate_only = CombinedLimiter("api", rate=rate)
    slots_only = CombinedLimiter("db", concurrency=slots)

    assert_type(await rate.call_result(fetch_user), Ok[str] | Err[Refused])
    assert_type(await slots.call_result(fetch_user), Ok[str] | Err[Refused])
    assert_type(await both.call_result(fetch_user), Ok[str] | Err[Refused])
    assert_type(await rate_only.call_result(fetch_user), Ok[str] | Err[Refused])
    assert_type(slots_only.rate, RateLimiter | None)
    assert_type(slots_only.stats().concurrency, ConcurrencyStats | None)
    assert_type(await rate.call(count), int)
    assert_type(await slots.call(count), int)
    assert_type(await both.call(count), int)
    assert_type(await slots.map([count, count]), list[int])
    assert_type(await slots.map_result([fetch_user]), list[Ok[str] | Err[Refused]])

    assert_type(rate.stats(), RateLimiterStats)
    assert_type(await rate.fetch_stats(), RateLimiterStats)
    assert_type(slots.stats(), ConcurrencyStats)
    assert_type(both.stats(), CombinedLimiterStats)

    try:
        await rate.acquire()
    except RateLimitedError as refused:
        assert_type(refused.error, RateLimited)
        assert_type(refused.error.retry_after, float | None)

    guards: list[Guard] = [rate, slots, both, limiter_presets.api("a")]
    assert_type(limiter_presets.database("pool"), ConcurrencyLimiter)
    assert_type(limiter_presets.external("geo"), RateLimiter)
    for guard in guards:
        assert_type(guard.name, str)

    store: LimiterStore = RedisLimiterStore("redis://127.0.0.1:6379/0")
    shared = RateLimiter("api", store=store)
    assert_type(shared.store, LimiterStore)
