"""Where a `RateLimiter` keeps its token bucket: the `LimiterStore` protocol and the memory store.

A store holds one token bucket per key and refills and takes from it atomically. The
default `MemoryLimiterStore` keeps buckets in this process and reads time from the
limiter's clock; `resultflow.reliability.RedisLimiterStore` keeps them in Redis so
that many processes share one bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# Defined with the other store errors (a `StoreError`), re-exported here.
from resultflow.errors import LimiterStoreError

__all__ = ["BucketSpec", "LimiterStore", "LimiterStoreError", "MemoryLimiterStore"]

# Floating-point slack when comparing token counts, so that a caller who slept exactly
# the advertised `retry_after` is not refused for want of 1e-16 of a token.
_TOKEN_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """The shape of a token bucket: holds at most `capacity` tokens, refills `refill_rate`/s."""

    capacity: float
    refill_rate: float

    def __post_init__(self) -> None:
        # Infinity and NaN are refused: a store keeps these numbers, and a bucket of
        # infinite tokens or refill has no expiry a store could compute.
        if not 1 <= self.capacity < float("inf"):
            raise ValueError(
                f"a bucket must hold at least one token (a finite number), got {self.capacity!r}"
            )
        if not 0 < self.refill_rate < float("inf"):
            raise ValueError(
                f"the refill rate must be positive and finite, got {self.refill_rate!r}"
            )

    def seconds_until(self, tokens: float, wanted: float = 1.0) -> float:
        """Seconds until a bucket now holding `tokens` holds `wanted` tokens."""
        missing = wanted - tokens
        return 0.0 if missing <= _TOKEN_EPSILON else missing / self.refill_rate


@runtime_checkable
class LimiterStore(Protocol):
    """Keeps token buckets by key and takes tokens from them atomically.

    `now` is the calling limiter's monotonic clock reading. A store shared across
    processes may use its own time source instead (the Redis store uses the server's
    clock) and say so in its documentation.
    """

    async def take(self, key: str, spec: BucketSpec, now: float) -> float:
        """Take one token: return 0.0 when taken, else the seconds until one is available."""
        ...

    async def tokens(self, key: str, spec: BucketSpec, now: float) -> float:
        """Return the tokens in the bucket now (a fresh bucket is full), taking none."""
        ...

    def refill(self, key: str, spec: BucketSpec, now: float) -> None:
        """Fill the bucket to capacity; the next `take` or `tokens` call sees it full."""
        ...

    def peek(self, key: str, spec: BucketSpec, now: float) -> float:
        """Return the tokens available now without I/O (an estimate for remote stores)."""
        ...


class MemoryLimiterStore:
    """Token buckets in this process's memory: the default store of a `RateLimiter`.

    Exact and cheap; time is whatever the limiter's clock says, so a `TestClock` drives
    refills in tests.
    """

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        # key -> (tokens, monotonic time those tokens were counted at)
        self._buckets: dict[str, tuple[float, float]] = {}

    async def take(self, key: str, spec: BucketSpec, now: float) -> float:
        """Take one token: return 0.0 when taken, else the seconds until one is available."""
        return self.take_nowait(key, spec, now)

    def take_nowait(self, key: str, spec: BucketSpec, now: float) -> float:
        """`take` without the coroutine: the memory store never waits for anything."""
        tokens = self.peek(key, spec, now)
        if tokens + _TOKEN_EPSILON >= 1.0:
            self._buckets[key] = (max(0.0, tokens - 1.0), now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return spec.seconds_until(tokens)

    async def tokens(self, key: str, spec: BucketSpec, now: float) -> float:
        """Return the tokens in the bucket now."""
        return self.peek(key, spec, now)

    def refill(self, key: str, spec: BucketSpec, now: float) -> None:
        """Fill the bucket to capacity."""
        self._buckets[key] = (spec.capacity, now)

    def peek(self, key: str, spec: BucketSpec, now: float) -> float:
        """Return the tokens available at `now` (exact)."""
        state = self._buckets.get(key)
        if state is None:
            return spec.capacity
        tokens, counted_at = state
        if now > counted_at:
            tokens += (now - counted_at) * spec.refill_rate
        return spec.capacity if tokens > spec.capacity else tokens

    def __repr__(self) -> str:
        return f"MemoryLimiterStore(buckets={len(self._buckets)})"
