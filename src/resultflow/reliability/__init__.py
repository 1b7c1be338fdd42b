"""Reliability: retries, timeouts, circuit breakers, rate and concurrency limiters, policies.

Everything here guards or repeats one call. A step takes these through its options
(`retry=`, `timeout=`, `breaker=`, `limiter=`, `policy=`); the same objects also work
on their own around any Result-returning call (`retry_call`, `breaker.call_result`,
`limiter.call_result`). Retry waits and stops are tenacity's.

Every name is imported from its module when first used, so importing this package is
cheap, and the Redis-backed stores (`RedisBreakerStore`, `RedisLimiterStore`) need the
`redis` extra only in code that names them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resultflow.reliability._breaker import (
        BreakerPresets,
        BreakerStats,
        CircuitBreaker,
        CircuitOpenError,
        PresetOptions,
        StateChangeCallback,
        breaker_presets,
    )
    from resultflow.reliability._breaker_redis import RedisBreakerStore
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
    from resultflow.reliability._limiters.redis import RedisLimiterStore
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


# Each name is imported from its module on first use (PEP 562), so `import resultflow`,
# which needs only timeouts and guards, does not pay for tenacity, breakers, limiters
# and policies; the Redis stores also keep the `redis` extra optional this way.
_HOMES: dict[str, str] = {
    "Admission": "_breaker_store",
    "Backoff": "_retry",
    "BreakerConfig": "_breaker_store",
    "BreakerPresets": "_breaker",
    "BreakerRecord": "_breaker_store",
    "BreakerStats": "_breaker",
    "BreakerStore": "_breaker_store",
    "BreakerStoreError": "_breaker_store",
    "BucketSpec": "_limiters",
    "CircuitBreaker": "_breaker",
    "CircuitOpenError": "_breaker",
    "CircuitState": "_breaker_store",
    "CombinedLimiter": "_limiters",
    "CombinedLimiterStats": "_limiters",
    "ConcurrencyLimiter": "_limiters",
    "ConcurrencyStats": "_limiters",
    "EXPIRED": "_timeout",
    "Expired": "_timeout",
    "Guard": "_guard",
    "LimiterPresets": "_limiters",
    "LimiterStore": "_limiters",
    "LimiterStoreError": "_limiters",
    "MemoryBreakerStore": "_breaker_store",
    "MemoryCircuit": "_breaker_store",
    "MemoryLimiterStore": "_limiters",
    "OnRetry": "_retry",
    "Policy": "_policies",
    "PolicyApplier": "_policies",
    "PolicyOverrides": "_policies",
    "PolicyRegistry": "_policies",
    "PresetOptions": "_breaker",
    "QueueStrategy": "_limiters",
    "RateLimitedError": "_limiters",
    "RateLimiter": "_limiters",
    "RateLimiterStats": "_limiters",
    "RateStrategy": "_limiters",
    "RedisBreakerStore": "_breaker_redis",
    "RedisLimiterStore": "_limiters.redis",
    "RetryPolicy": "_retry",
    "StateChangeCallback": "_breaker",
    "StepOptionsBuilder": "_policies",
    "StopStrategy": "_retry",
    "Ticket": "_breaker_store",
    "Timeout": "_timeout",
    "Transition": "_breaker_store",
    "UnknownPolicyError": "_policies",
    "Update": "_breaker_store",
    "WaitStrategy": "_retry",
    "apply_policies": "_policies",
    "breaker_presets": "_breaker",
    "limiter_presets": "_limiters",
    "merge_policies": "_policies",
    "resolve_step_options": "_policies",
    "retry_call": "_retry",
    "retry_call_sync": "_retry",
    "retry_policies": "_policies",
    "service_policies": "_policies",
    "step_options": "_policies",
    "timeout_policies": "_policies",
    "with_policies": "_policies",
    "with_policy": "_policies",
    "within": "_timeout",
}


def __getattr__(name: str) -> object:
    """Import `name` from its module on first use and keep it here."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: object = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
