"""`CombinedLimiter` (a rate part, a concurrency part, or both) and `limiter_presets`.

Every limiter is a `resultflow.reliability.Guard` (a `name` and `call_result(fn)`), so
it can guard a step or sit in a `Policy`; standalone, `await limiter.call(fn)` runs
`fn` once admitted and raises `RateLimitedError` when refused, while
`call_result(fn)` returns `Err(RateLimited(limiter, retry_after))` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TypeVar

from resultflow.clock import Clock
from resultflow.errors import RateLimited, RateLimitedError, UnexpectedError
from resultflow.reliability._guard import run_admitted
from resultflow.reliability._limiters.concurrency import (
    ConcurrencyLimiter,
    ConcurrencyStats,
    QueueStrategy,
)
from resultflow.reliability._limiters.rate import (
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
    """A snapshot of a `CombinedLimiter`: its rate and concurrency parts (None if absent)."""

    rate: RateLimiterStats | None
    concurrency: ConcurrencyStats | None


class CombinedLimiter:
    """A rate limit and a concurrency limit applied together (or either one alone).

    A call first takes a token from `rate`, then a slot from `concurrency`, so calls
    start no faster than the rate and never run more than `max_concurrent` at once.
    A refusal is the refusing part's own `RateLimited` (its `limiter` names that part),
    so a caller can tell an exhausted rate from a full queue. A token taken before the
    concurrency part refuses is spent.

    Either part may be left out (None), so code that takes "a limiter" can be handed
    a combined one with only the limit it needs; at least one part is required.

    Args:
        name: The combined limiter's name, used as its `Guard` name.
        rate: The `RateLimiter` a call takes a token from first, or None for no rate
            limit.
        concurrency: The `ConcurrencyLimiter` a call then takes a slot from, or None
            for no concurrency limit.

    Raises:
        ValueError: `name` is empty, or both parts are None.
    """

    def __init__(
        self,
        name: str,
        rate: RateLimiter | None = None,
        concurrency: ConcurrencyLimiter | None = None,
    ) -> None:
        if not name:
            raise ValueError("a limiter needs a non-empty name")
        if rate is None and concurrency is None:
            raise ValueError(
                f"CombinedLimiter {name!r} needs a rate part, a concurrency part, or both"
            )
        self._name = name
        self._rate = rate
        self._concurrency = concurrency

    @property
    def name(self) -> str:
        """The combined limiter's name (the `Guard` name)."""
        return self._name

    @property
    def rate(self) -> RateLimiter | None:
        """The rate part (None when there is none)."""
        return self._rate

    @property
    def concurrency(self) -> ConcurrencyLimiter | None:
        """The concurrency part (None when there is none)."""
        return self._concurrency

    async def acquire(self) -> None:
        """Take a token and a slot (give the slot back with `release()`).

        Raises `RateLimitedError` when either part refuses.
        """
        if self._rate is not None:
            await self._rate.acquire()
        if self._concurrency is not None:
            await self._concurrency.acquire()

    def release(self) -> None:
        """Give back the slot taken by `acquire()` (nothing to do without a concurrency part)."""
        if self._concurrency is not None:
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
        if self._rate is not None:
            await self._rate.acquire()
        if self._concurrency is None:
            return await fn()
        return await self._concurrency.call(fn)

    async def call_result(
        self, fn: Callable[[], Awaitable[Result[T, E]]]
    ) -> Result[T, E | RateLimited | UnexpectedError]:
        """Run the Result-returning `fn` under both limits, or return `Err(RateLimited)`.

        Like every guard, it does not raise: an exception raised by `fn`, or a
        `LimiterStoreError` from the rate part's store, comes back as
        `Err(UnexpectedError)` with the exception as `cause`.
        """
        if self._rate is not None:
            try:
                await self._rate.acquire()
            except RateLimitedError as refused:
                return Err(refused.error)
            except LimiterStoreError as failure:
                return Err(UnexpectedError.from_exception(failure), failure)
        if self._concurrency is None:
            return await run_admitted(fn)
        return await self._concurrency.call_result(fn)

    def stats(self) -> CombinedLimiterStats:
        """The stats of each part (None for a part that is absent)."""
        return CombinedLimiterStats(
            rate=None if self._rate is None else self._rate.stats(),
            concurrency=None if self._concurrency is None else self._concurrency.stats(),
        )

    def reset(self) -> None:
        """Reset the rate part, if any (refill its bucket and wake its waiters)."""
        if self._rate is not None:
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
