"""Rate, concurrency and combined limiters, and the stores their token buckets live in.

One place for everything that admits calls by rate or by count: `rate` (token buckets),
`concurrency` (slots with a FIFO queue), `combined` (both, in order), `store` (the
bucket store protocol and its in-memory form) and `redis` (a bucket shared by processes,
imported only when used).
"""

from resultflow.reliability._limiters.combined import (
    CombinedLimiter,
    CombinedLimiterStats,
    LimiterPresets,
    limiter_presets,
)
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
