"""Type-checked usage of the circuit breaker and its stores (never executed)."""

from __future__ import annotations

from typing import assert_type

from resultflow.errors import CircuitOpen, TaggedError, UnexpectedError
from resultflow.reliability._breaker import (
    BreakerStats,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    breaker_presets,
)
from resultflow.reliability._breaker_redis import RedisBreakerStore
from resultflow.reliability._breaker_store import BreakerStore, MemoryBreakerStore
from resultflow.reliability._guard import Guard
from resultflow.result import Err, Ok
from resultflow.testing._clock import TestClock


class NotFound(TaggedError):
    id: str


async def fetch_user() -> Ok[str] | Err[NotFound]:
    return Ok("ada")


async def count() -> int:
    return 1


def log_change(old: CircuitState, new: CircuitState) -> None:
    print(old.name, new.name)


async def usage() -> None:
    breaker = CircuitBreaker(
        "users",
        failure_threshold=3,
        reset_timeout=10.0,
        half_open_max=2,
        success_threshold=2,
        window=30.0,
        is_failure=lambda error: not isinstance(error, NotFound),
        store=MemoryBreakerStore(),
        clock=TestClock(),
        on_state_change=log_change,
    )
    assert_type(
        await breaker.call_result(fetch_user),
        Ok[str] | Err[NotFound | CircuitOpen | UnexpectedError],
    )
    assert_type(await breaker.call(count), int)
    assert_type(breaker.stats(), BreakerStats)
    assert_type(await breaker.fetch_stats(), BreakerStats)
    assert_type(breaker.stats().state, CircuitState)
    assert_type(breaker.name, str)
    await breaker.reset()

    guard: Guard = breaker
    print(guard.name)

    try:
        await breaker.call(count)
    except CircuitOpenError as refused:
        assert_type(refused.error, CircuitOpen)

    for made in (
        breaker_presets.critical("payments"),
        breaker_presets.standard("search", window=10.0),
        breaker_presets.lenient("recommendations", clock=TestClock()),
    ):
        assert_type(made, CircuitBreaker)

    async with RedisBreakerStore("redis://127.0.0.1:6379/0", prefix="app:") as shared:
        store: BreakerStore = shared
        assert_type(breaker_presets.critical("payments", store=store), CircuitBreaker)
