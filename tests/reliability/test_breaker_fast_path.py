"""The in-process fast path of CircuitBreaker and RateLimiter behaves like the store path.

A breaker (limiter) whose store is exactly `MemoryBreakerStore` (`MemoryLimiterStore`)
settles calls without the store's async methods; a subclass of the store is not
recognised, so it takes the general path. Both are driven by the same random scripts
and must agree on every outcome, transition and snapshot.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resultflow.errors import CircuitOpen, UnexpectedError
from resultflow.reliability._breaker import CircuitBreaker, CircuitOpenError, CircuitState
from resultflow.reliability._breaker_store import BreakerRecord, MemoryBreakerStore
from resultflow.reliability._limiters.combined import (
    MemoryLimiterStore,
    RateLimitedError,
    RateLimiter,
)
from resultflow.result import Err, Ok, Result
from resultflow.testing._clock import TestClock


class GeneralPathBreakerStore(MemoryBreakerStore):
    """The memory store, but not exactly it: the breaker uses the store protocol."""


class GeneralPathLimiterStore(MemoryLimiterStore):
    """The memory limiter store, but not exactly it: the limiter awaits `take`."""


class Boom(Exception):
    """A failure of the protected dependency."""


def is_failure(outcome: object) -> bool:
    return "ignored" not in str(outcome)


Op = tuple[str, float]

OPS = st.one_of(
    st.sampled_from(
        [
            ("ok", 0.0),
            ("err", 0.0),
            ("err ignored", 0.0),
            ("raise", 0.0),
            ("raise ignored", 0.0),
            ("call ok", 0.0),
            ("call raise", 0.0),
            ("call raise ignored", 0.0),
            ("not a result", 0.0),
            ("reset", 0.0),
        ]
    ),
    st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=40.0)),
)


def outcome_fn(op: str) -> Callable[[], Awaitable[Result[str, str]]]:
    async def fn() -> Result[str, str]:
        if op == "ok":
            return Ok("fine")
        if op.startswith("err"):
            return Err(op)
        if op == "not a result":
            return "plain"  # type: ignore[return-value]
        raise Boom(op)

    return fn


async def step(breaker: CircuitBreaker, clock: TestClock, op: str, dt: float) -> object:
    """Run one scripted operation; return a comparable description of what happened."""
    if op == "advance":
        clock.advance(dt)
        return None
    if op == "reset":
        await breaker.reset()
        return None
    if op.startswith("call"):
        return await plain_call(breaker, op)
    try:
        result = await breaker.call_result(outcome_fn(op))
    except TypeError as exc:
        return ("TypeError", str(exc))
    if isinstance(result, Err) and isinstance(result.error, UnexpectedError):
        return ("Err", result.error.exception_type, result.error.message)
    return result


async def plain_call(breaker: CircuitBreaker, op: str) -> object:
    async def fn() -> str:
        if "raise" in op:
            raise Boom(op)
        return "fine"

    try:
        return await breaker.call(fn)
    except Boom as exc:
        return ("Boom", str(exc))
    except CircuitOpenError as exc:
        return exc.error


def make_breaker(
    store: MemoryBreakerStore, clock: TestClock, changes: list[tuple[CircuitState, CircuitState]]
) -> CircuitBreaker:
    return CircuitBreaker(
        "svc",
        failure_threshold=3,
        reset_timeout=10.0,
        half_open_max=2,
        success_threshold=2,
        window=30.0,
        is_failure=is_failure,
        store=store,
        clock=clock,
        on_state_change=lambda old, new: changes.append((old, new)),
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(OPS, max_size=40))
def test_breaker_fast_path_matches_the_store_path(script: list[Op]) -> None:
    async def run(store: MemoryBreakerStore) -> tuple[list[object], list[object]]:
        clock = TestClock(autojump=False)
        changes: list[tuple[CircuitState, CircuitState]] = []
        breaker = make_breaker(store, clock, changes)
        seen: list[object] = []
        for op, dt in script:
            seen.append(await step(breaker, clock, op, dt))
            seen.append(breaker.stats())
        return seen, [*changes, store.peek("svc")]

    fast = asyncio.run(run(MemoryBreakerStore()))
    general = asyncio.run(run(GeneralPathBreakerStore()))
    assert fast == general


async def test_a_breaker_takes_the_fast_path_only_with_the_exact_memory_store() -> None:
    clock = TestClock()
    fast = CircuitBreaker("svc", clock=clock)
    general = CircuitBreaker("svc", store=GeneralPathBreakerStore(), clock=clock)
    assert fast.store.peek("svc") is None  # nothing is created before the first call
    assert await fast.call_result(outcome_fn("ok")) == Ok("fine")
    assert await general.call_result(outcome_fn("ok")) == Ok("fine")
    assert fast.store.peek("svc") == general.store.peek("svc")
    assert fast.store.peek("svc") == BreakerRecord(success_count=1)


async def test_a_call_admitted_while_closed_that_fails_after_the_trip_keeps_it_open() -> None:
    clock = TestClock(autojump=False)
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=5.0, clock=clock)
    gate = asyncio.Event()

    async def slow() -> Result[str, str]:
        await gate.wait()
        return Err("late")

    late = asyncio.create_task(breaker.call_result(slow))
    await asyncio.sleep(0)  # admitted while CLOSED
    assert await breaker.call_result(outcome_fn("err")) == Err("err")
    opened = breaker.stats()
    assert opened.state is CircuitState.OPEN
    clock.advance(2.0)
    gate.set()
    assert await late == Err("late")
    after = breaker.stats()
    assert after.state is CircuitState.OPEN
    assert after.retry_after == pytest.approx(3.0)  # the late failure did not restart it
    refused = await breaker.call_result(outcome_fn("ok"))
    assert refused == Err(CircuitOpen("svc", pytest.approx(3.0)))


def test_a_memory_store_shared_by_event_loops_in_threads_counts_every_call() -> None:
    store = MemoryBreakerStore()
    calls, threads = 2000, 4

    def worker() -> None:
        breaker = CircuitBreaker("svc", failure_threshold=10_000, store=store)

        async def loop() -> None:
            for index in range(calls):
                await breaker.call_result(outcome_fn("err" if index % 100 == 0 else "ok"))

        asyncio.run(loop())

    running = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    record = store.peek("svc")
    assert record is not None
    assert record.state is CircuitState.CLOSED
    assert record.success_count == threads * calls * 99 // 100
    assert len(record.failure_times) == threads * calls // 100
    assert list(record.failure_times) == sorted(record.failure_times)


# -- RateLimiter -------------------------------------------------------------------------

LIMITER_OPS = st.one_of(
    st.sampled_from([("acquire", 0.0), ("call_result", 0.0), ("reset", 0.0)]),
    st.tuples(st.just("advance"), st.floats(min_value=0.0, max_value=2.0)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(LIMITER_OPS, max_size=40))
def test_reject_limiter_fast_path_matches_the_store_path(script: list[Op]) -> None:
    async def ok() -> Result[str, str]:
        return Ok("ran")

    async def run(store: MemoryLimiterStore) -> list[object]:
        clock = TestClock(autojump=False)
        limiter = RateLimiter("api", rate=2.0, burst=3, strategy="reject", store=store, clock=clock)
        seen: list[object] = []
        for op, dt in script:
            if op == "advance":
                clock.advance(dt)
            elif op == "reset":
                limiter.reset()
            elif op == "call_result":
                seen.append(await limiter.call_result(ok))
            else:
                try:
                    await limiter.acquire()
                    seen.append("admitted")
                except RateLimitedError as refused:
                    seen.append(refused.error)
            seen.append(limiter.stats())
        return seen

    assert asyncio.run(run(MemoryLimiterStore())) == asyncio.run(run(GeneralPathLimiterStore()))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=1, max_value=4), st.floats(min_value=0.0, max_value=1.5)),
        max_size=8,
    )
)
def test_waiting_limiter_fast_path_matches_the_store_path(
    bursts: list[tuple[int, float]],
) -> None:
    async def run(store: MemoryLimiterStore) -> list[tuple[int, float]]:
        clock = TestClock()
        limiter = RateLimiter("api", rate=4.0, burst=2, store=store, clock=clock)
        admitted: list[tuple[int, float]] = []

        async def caller(number: int) -> None:
            await limiter.acquire()
            admitted.append((number, clock.monotonic()))

        number = 0
        for size, pause in bursts:
            tasks = []
            for _ in range(size):
                tasks.append(asyncio.create_task(caller(number)))
                number += 1
            await asyncio.gather(*tasks)
            await clock.sleep(pause)
        return admitted

    fast = asyncio.run(run(MemoryLimiterStore()))
    general = asyncio.run(run(GeneralPathLimiterStore()))
    assert fast == general
    assert [number for number, _ in fast] == list(range(len(fast)))  # arrival order
