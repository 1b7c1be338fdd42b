"""Rate and concurrency limiters: `RateLimiter`, `ConcurrencyLimiter`, `CombinedLimiter`.

Every limiter is a `resultflow.guard.Guard` (a `name` and `call_result(fn)`), so it can
guard a step or sit in a `Policy`; standalone, `await limiter.call(fn)` runs `fn` once
admitted and raises `RateLimitedError` when refused, while `call_result(fn)` returns
`Err(RateLimited(limiter, retry_after))` instead.

This module gathers the limiter API in one place: the rate limiter lives in
`resultflow.rate_limiter`, the concurrency limiter in `resultflow.concurrency_limiter`,
bucket stores in `resultflow.limiter_store` (and `resultflow.limiter_redis` for Redis).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from resultflow.clock import Clock
from resultflow.errors import RateLimited
from resultflow.reliability._limiters.concurrency import (
    ConcurrencyLimiter,
    ConcurrencyStats,
    QueueStrategy,
)
from resultflow.reliability._limiters.rate import (
    RateLimitedError,
    RateLimiter,
    RateLimiterStats,
    RateStrategy,
)
from resultflow.reliability._limiters.store import (
    BucketSpec,
    LimiterStore,
    LimiterStoreError,
    MemoryLimiterStore,
)
from resultflow.result import Err, Result

__all__ = [
    "BucketSpec",
    "CombinedLimiter",
    "CombinedLimiterStats",
    "ConcurrencyLimiter",
    "ConcurrencyStats",
    "LimiterPresets",
    "LimiterStore",
    "LimiterStoreError",
    "MemoryLimiterStore",
    "QueueStrategy",
    "RateLimitedError",
    "RateLimiter",
    "RateLimiterStats",
    "RateStrategy",
    "limiter_presets",
]

T = TypeVar("T")
E = TypeVar("E")


@dataclass(frozen=True, slots=True)
class CombinedLimiterStats:
    """A snapshot of a `CombinedLimiter`: its rate and concurrency parts."""

    rate: RateLimiterStats
    concurrency: ConcurrencyStats


class CombinedLimiter:
    """A rate limit and a concurrency limit applied together.

    A call first takes a token from `rate`, then a slot from `concurrency`, so calls
    start no faster than the rate and never run more than `max_concurrent` at once.
    A refusal is the refusing part's own `RateLimited` (its `limiter` names that part),
    so a caller can tell an exhausted rate from a full queue. A token taken before the
    concurrency part refuses is spent.
    """

    def __init__(self, name: str, rate: RateLimiter, concurrency: ConcurrencyLimiter) -> None:
        if not name:
            raise ValueError("a limiter needs a non-empty name")
        self._name = name
        self._rate = rate
        self._concurrency = concurrency

    @property
    def name(self) -> str:
        """The combined limiter's name (the `Guard` name)."""
        return self._name

    @property
    def rate(self) -> RateLimiter:
        """The rate part."""
        return self._rate

    @property
    def concurrency(self) -> ConcurrencyLimiter:
        """The concurrency part."""
        return self._concurrency

    async def acquire(self) -> None:
        """Take a token and a slot (give the slot back with `release()`).

        Raises `RateLimitedError` when either part refuses.
        """
        await self._rate.acquire()
        await self._concurrency.acquire()

    def release(self) -> None:
        """Give back the slot taken by `acquire()`."""
        self._concurrency.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn` under both limits; raises `RateLimitedError` when refused."""
        await self._rate.acquire()
        return await self._concurrency.call(fn)

    async def call_result(
        self, fn: Callable[[], Awaitable[Result[T, E]]]
    ) -> Result[T, E | RateLimited]:
        """Run the Result-returning `fn` under both limits, or return `Err(RateLimited)`."""
        try:
            await self._rate.acquire()
        except RateLimitedError as refused:
            return Err(refused.error)
        return await self._concurrency.call_result(fn)

    def stats(self) -> CombinedLimiterStats:
        """The stats of both parts."""
        return CombinedLimiterStats(rate=self._rate.stats(), concurrency=self._concurrency.stats())

    def reset(self) -> None:
        """Reset the rate part (refill its bucket and wake its waiters)."""
        self._rate.reset()

    def __repr__(self) -> str:
        parts = f"rate={self._rate!r}, concurrency={self._concurrency!r}"
        return f"CombinedLimiter({self._name!r}, {parts})"


class LimiterPresets:
    """Factories for common limiters; each call returns a NEW limiter.

    | preset     | kind                 | numbers                          |
    | ---------- | -------------------- | -------------------------------- |
    | `api`      | `RateLimiter`        | 10/s, burst 20, wait             |
    | `external` | `RateLimiter`        | 5/s, burst 10, wait              |
    | `database` | `ConcurrencyLimiter` | 10 concurrent, queue 100         |

    Factories rather than shared instances, so two users of a preset never share a
    bucket by accident; pass the same `store=` (and name) to share one on purpose.
    """

    __slots__ = ()

    def api(
        self, name: str, *, store: LimiterStore | None = None, clock: Clock | None = None
    ) -> RateLimiter:
        """A rate limiter for your own or a partner's API: 10 calls/s, burst 20, waiting."""
        return RateLimiter(name, rate=10.0, burst=20.0, strategy="wait", store=store, clock=clock)

    def external(
        self, name: str, *, store: LimiterStore | None = None, clock: Clock | None = None
    ) -> RateLimiter:
        """A gentler rate limiter for third-party services: 5 calls/s, burst 10, waiting."""
        return RateLimiter(name, rate=5.0, burst=10.0, strategy="wait", store=store, clock=clock)

    def database(self, name: str, *, clock: Clock | None = None) -> ConcurrencyLimiter:
        """A concurrency limiter for a connection pool: 10 at once, 100 queued."""
        return ConcurrencyLimiter(
            name, max_concurrent=10, max_queue=100, strategy="queue", clock=clock
        )

    def __repr__(self) -> str:
        return "limiter_presets"


limiter_presets = LimiterPresets()
"""`limiter_presets.api(name)`, `.external(name)`, `.database(name)`: new preset limiters."""
