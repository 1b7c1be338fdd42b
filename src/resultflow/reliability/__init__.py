"""Reliability: retries, timeouts, circuit breakers, rate and concurrency limiters, policies.

Everything here guards or repeats one call. A step takes these through its options
(`retry=`, `timeout=`, `breaker=`, `limiter=`, `policy=`); the same objects also work
on their own around any Result-returning call (`retry_call`, `breaker.call_result`,
`limiter.call_result`). Retry waits and stops are tenacity's.

The Redis-backed stores (`RedisBreakerStore`, `RedisLimiterStore`) are imported only
when first used, so the `redis` extra is needed only by code that names them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resultflow.reliability._breaker import (
    BreakerPresets,
    BreakerStats,
    CircuitBreaker,
    CircuitOpenError,
    PresetOptions,
    StateChangeCallback,
    breaker_presets,
)
from resultflow.reliability._breaker_store import (
    Admission,
    BreakerConfig,
    BreakerRecord,
    BreakerStore,
    BreakerStoreError,
    CircuitState,
    MemoryBreakerStore,
    MemoryCircuit,
    Ticket,
    Transition,
    Update,
)
from resultflow.reliability._guard import Guard
from resultflow.reliability._limiters import (
    BucketSpec,
    CombinedLimiter,
    CombinedLimiterStats,
    ConcurrencyLimiter,
    ConcurrencyStats,
    LimiterPresets,
    LimiterStore,
    LimiterStoreError,
    MemoryLimiterStore,
    QueueStrategy,
    RateLimitedError,
    RateLimiter,
    RateLimiterStats,
    RateStrategy,
    limiter_presets,
)
from resultflow.reliability._policies import (
    Policy,
    PolicyApplier,
    PolicyOverrides,
    PolicyRegistry,
    StepOptionsBuilder,
    UnknownPolicyError,
    apply_policies,
    merge_policies,
    resolve_step_options,
    retry_policies,
    service_policies,
    step_options,
    timeout_policies,
    with_policies,
    with_policy,
)
from resultflow.reliability._retry import (
    Backoff,
    OnRetry,
    RetryPolicy,
    StopStrategy,
    WaitStrategy,
    retry_call,
    retry_call_sync,
)
from resultflow.reliability._timeout import EXPIRED, Expired, Timeout, within

if TYPE_CHECKING:
    from resultflow.reliability._breaker_redis import RedisBreakerStore
    from resultflow.reliability._limiters.redis import RedisLimiterStore

__all__ = [
    "EXPIRED",
    "Admission",
    "Backoff",
    "BreakerConfig",
    "BreakerPresets",
    "BreakerRecord",
    "BreakerStats",
    "BreakerStore",
    "BreakerStoreError",
    "BucketSpec",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "CombinedLimiter",
    "CombinedLimiterStats",
    "ConcurrencyLimiter",
    "ConcurrencyStats",
    "Expired",
    "Guard",
    "LimiterPresets",
    "LimiterStore",
    "LimiterStoreError",
    "MemoryBreakerStore",
    "MemoryCircuit",
    "MemoryLimiterStore",
    "OnRetry",
    "Policy",
    "PolicyApplier",
    "PolicyOverrides",
    "PolicyRegistry",
    "PresetOptions",
    "QueueStrategy",
    "RateLimitedError",
    "RateLimiter",
    "RateLimiterStats",
    "RateStrategy",
    "RedisBreakerStore",
    "RedisLimiterStore",
    "RetryPolicy",
    "StateChangeCallback",
    "StepOptionsBuilder",
    "StopStrategy",
    "Ticket",
    "Timeout",
    "Transition",
    "UnknownPolicyError",
    "Update",
    "WaitStrategy",
    "apply_policies",
    "breaker_presets",
    "limiter_presets",
    "merge_policies",
    "resolve_step_options",
    "retry_call",
    "retry_call_sync",
    "retry_policies",
    "service_policies",
    "step_options",
    "timeout_policies",
    "with_policies",
    "with_policy",
    "within",
]


def __getattr__(name: str) -> object:
    """Import the Redis stores on first use, so the `redis` extra stays optional."""
    if name == "RedisBreakerStore":
        from resultflow.reliability._breaker_redis import RedisBreakerStore

        return RedisBreakerStore
    if name == "RedisLimiterStore":
        from resultflow.reliability._limiters.redis import RedisLimiterStore

        return RedisLimiterStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
