"""Rate, concurrency and combined limiters, on virtual time (no real sleeping)."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resultflow.errors import RateLimited, StoreError, UnexpectedError
from resultflow.reliability import (
    BucketSpec,
    CircuitBreaker,
    CombinedLimiter,
    CombinedLimiterStats,
    ConcurrencyLimiter,
    ConcurrencyStats,
    Guard,
    LimiterStore,
    LimiterStoreError,
    MemoryLimiterStore,
    RateLimitedError,
    RateLimiter,
    RateLimiterStats,
    RateStrategy,
    limiter_presets,
)
from resultflow.result import Err, Ok, Result
from resultflow.testing._clock import TestClock


async def settle(passes: int = 30) -> None:
    """Let every runnable task run as far as it can without time moving."""
    for _ in range(passes):
        await asyncio.sleep(0)


def manual_clock() -> TestClock:
    """A clock that moves only on advance(), so waiters stay put until told."""
    return TestClock(autojump=False)


# -- RateLimiter: the bucket ------------------------------------------------------------


async def test_burst_then_reject_with_retry_after() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=10.0, burst=5, strategy="reject", clock=clock)
    for _ in range(5):
        await limiter.acquire()
    with pytest.raises(RateLimitedError) as refused:
        await limiter.acquire()
    assert refused.value.error == RateLimited("api", pytest.approx(0.1))
    assert "'api'" in str(refused.value)
    assert "0.100 s" in str(refused.value)
    assert limiter.stats() == RateLimiterStats(available_tokens=0.0, waiting=0)


async def test_refill_math_and_fractional_retry_after() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=10.0, burst=5, strategy="reject", clock=clock)
    for _ in range(5):
        await limiter.acquire()
    clock.advance(0.25)
    assert limiter.stats().available_tokens == pytest.approx(2.5)
    await limiter.acquire()
    await limiter.acquire()
    with pytest.raises(RateLimitedError) as refused:
        await limiter.acquire()
    # 0.5 token left, 10 tokens/s: the next whole token is 0.05 s away.
    assert refused.value.error.retry_after == pytest.approx(0.05)
    clock.advance(0.05)
    await limiter.acquire()


async def test_bucket_never_holds_more_than_burst() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=10.0, burst=3, strategy="reject", clock=clock)
    await limiter.acquire()
    clock.advance(1000.0)
    assert limiter.stats().available_tokens == 3.0
    for _ in range(3):
        await limiter.acquire()
    with pytest.raises(RateLimitedError):
        await limiter.acquire()


async def test_per_sets_the_period_of_rate() -> None:
    clock = manual_clock()
    limiter = RateLimiter("slow", rate=60.0, per=60.0, burst=1, strategy="reject", clock=clock)
    await limiter.acquire()
    result = await limiter.call_result(_ok_thunk(1))
    assert result == Err(RateLimited("slow", pytest.approx(1.0)))


def test_burst_defaults_to_twice_the_rate_and_at_least_one_token() -> None:
    assert RateLimiter("a", rate=3.0).burst == 6.0
    assert RateLimiter("b", rate=0.2).burst == 1.0
    assert RateLimiter("c", rate=3.0, burst=4).burst == 4.0
    limiter = RateLimiter("d")
    assert (limiter.rate, limiter.per, limiter.burst, limiter.strategy) == (10.0, 1.0, 20.0, "wait")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 0.0}, "rate and per must be positive"),
        ({"rate": -1.0}, "rate and per must be positive"),
        ({"per": 0.0}, "rate and per must be positive"),
        ({"burst": 0.5}, "burst must be at least 1"),
        ({"strategy": "drop"}, "strategy must be 'wait' or 'reject'"),
    ],
)
def test_rate_limiter_rejects_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RateLimiter("x", **kwargs)  # type: ignore[arg-type]


def test_rate_limiter_needs_a_name() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        RateLimiter("")


def test_bucket_spec_validates() -> None:
    with pytest.raises(ValueError, match="at least one token"):
        BucketSpec(capacity=0.5, refill_rate=1.0)
    with pytest.raises(ValueError, match="refill rate"):
        BucketSpec(capacity=1.0, refill_rate=0.0)
    assert BucketSpec(capacity=2.0, refill_rate=4.0).seconds_until(0.5) == pytest.approx(0.125)
    assert BucketSpec(capacity=2.0, refill_rate=4.0).seconds_until(1.0) == 0.0


@given(
    rate=st.floats(min_value=0.1, max_value=1000.0),
    burst=st.floats(min_value=1.0, max_value=100.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), max_size=60),
)
async def test_a_bucket_never_admits_more_than_burst_plus_refills(
    rate: float, burst: float, gaps: list[float]
) -> None:
    store = MemoryLimiterStore()
    spec = BucketSpec(capacity=burst, refill_rate=rate)
    now = 0.0
    admitted = 0
    for gap in gaps:
        now += gap
        retry_after = await store.take("k", spec, now)
        tokens = store.peek("k", spec, now)
        assert 0.0 <= tokens <= burst
        if retry_after == 0.0:
            admitted += 1
        else:
            # Refused only when short of a token, and told exactly when one arrives.
            assert tokens < 1.0
            assert retry_after == pytest.approx((1.0 - tokens) / rate)
            assert store.peek("k", spec, now + retry_after) == pytest.approx(1.0)
        assert admitted <= burst + rate * now + 1e-6


# -- RateLimiter: waiting ---------------------------------------------------------------


async def test_wait_strategy_spaces_calls_at_the_rate() -> None:
    clock = TestClock()
    limiter = RateLimiter("api", rate=10.0, burst=1, clock=clock)
    started = clock.monotonic()
    times = []
    for _ in range(5):
        await limiter.acquire()
        times.append(clock.monotonic() - started)
    assert times == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


async def test_concurrent_waiters_are_served_in_arrival_order_at_the_rate() -> None:
    clock = TestClock()
    limiter = RateLimiter("api", rate=4.0, burst=2, clock=clock)
    admitted: list[tuple[int, float]] = []

    async def caller(index: int) -> None:
        await limiter.acquire()
        admitted.append((index, clock.monotonic()))

    async with asyncio.TaskGroup() as group:
        for index in range(6):
            group.create_task(caller(index))
    assert [index for index, _ in admitted] == [0, 1, 2, 3, 4, 5]
    assert [at for _, at in admitted] == pytest.approx([0.0, 0.0, 0.25, 0.5, 0.75, 1.0])


async def test_a_late_caller_cannot_barge_ahead_of_waiters() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=10.0, burst=1, clock=clock)
    await limiter.acquire()  # the bucket is now empty
    order: list[str] = []

    async def caller(label: str) -> None:
        await limiter.acquire()
        order.append(label)

    first = asyncio.create_task(caller("first"))
    await settle()
    second = asyncio.create_task(caller("second"))
    await settle()
    assert limiter.stats().waiting == 2
    clock.advance(0.1)  # one token is free, but "first" has not woken up to take it yet
    late = asyncio.create_task(caller("late"))
    await settle()
    assert order == ["first"]
    assert limiter.stats().waiting == 2
    clock.advance(0.1)
    await settle()
    clock.advance(0.1)
    await settle()
    await asyncio.gather(first, second, late)
    assert order == ["first", "second", "late"]


async def test_a_caller_that_finds_tokens_and_no_queue_passes_at_once() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=1.0, burst=2, clock=clock)
    await limiter.acquire()
    await limiter.acquire()
    assert clock.monotonic() == 0.0
    assert limiter.stats() == RateLimiterStats(available_tokens=0.0, waiting=0)


async def test_reset_refills_the_bucket_and_wakes_waiters() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=1.0, burst=2, clock=clock)
    await limiter.acquire()
    await limiter.acquire()
    waiters = [asyncio.create_task(limiter.acquire()) for _ in range(3)]
    await settle()
    assert limiter.stats().waiting == 3
    limiter.reset()
    await settle()
    # Two of three proceed from the refilled bucket, in order, with no time passing.
    assert [task.done() for task in waiters] == [True, True, False]
    assert limiter.stats() == RateLimiterStats(available_tokens=0.0, waiting=1)
    # The third waits on a fresh schedule: one token, one second after the reset.
    clock.advance(0.999)
    await settle()
    assert not waiters[2].done()
    clock.advance(0.001)
    await settle()
    assert waiters[2].done()
    assert clock.monotonic() == pytest.approx(1.0)


async def test_reset_with_no_waiters_just_refills() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=1.0, burst=3, strategy="reject", clock=clock)
    for _ in range(3):
        await limiter.acquire()
    limiter.reset()
    assert limiter.stats().available_tokens == 3.0
    assert (await limiter.fetch_stats()).available_tokens == 3.0


async def test_cancelling_the_first_waiter_hands_the_turn_on() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=10.0, burst=1, clock=clock)
    await limiter.acquire()
    head = asyncio.create_task(limiter.acquire())
    await settle()
    behind = asyncio.create_task(limiter.acquire())
    await settle()
    head.cancel()
    await settle()
    assert head.cancelled()
    assert limiter.stats().waiting == 1
    clock.advance(0.1)
    await settle()
    assert behind.done()
    assert limiter.stats().waiting == 0


async def test_cancelling_a_waiter_in_the_middle_keeps_the_order() -> None:
    clock = manual_clock()
    limiter = RateLimiter("api", rate=10.0, burst=1, clock=clock)
    await limiter.acquire()
    order: list[int] = []

    async def caller(index: int) -> None:
        await limiter.acquire()
        order.append(index)

    tasks = []
    for index in range(4):
        tasks.append(asyncio.create_task(caller(index)))
        await settle()
    tasks[1].cancel()
    await settle()
    assert limiter.stats().waiting == 3
    for _ in range(3):
        clock.advance(0.1)
        await settle()
    assert order == [0, 2, 3]
    assert limiter.stats().waiting == 0


async def test_call_runs_the_function_and_returns_its_value() -> None:
    limiter = RateLimiter("api", clock=TestClock())

    async def fetch() -> int:
        return 42

    assert await limiter.call(fetch) == 42


async def test_call_raises_and_does_not_run_fn_when_refused() -> None:
    limiter = RateLimiter("api", rate=1.0, burst=1, strategy="reject", clock=manual_clock())
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await limiter.call(fetch) == 1
    with pytest.raises(RateLimitedError) as refused:
        await limiter.call(fetch)
    assert refused.value.error == RateLimited("api", pytest.approx(1.0))
    assert calls == 1


async def test_call_result_passes_the_functions_result_through() -> None:
    limiter = RateLimiter("api", rate=1.0, burst=2, strategy="reject", clock=manual_clock())

    async def failing() -> Result[int, str]:
        return Err("boom")

    assert await limiter.call_result(_ok_thunk(7)) == Ok(7)
    assert await limiter.call_result(failing) == Err("boom")
    assert await limiter.call_result(_ok_thunk(8)) == Err(RateLimited("api", pytest.approx(1.0)))


async def test_call_result_returns_exceptions_from_fn_as_unexpected_errors() -> None:
    # The same rule as the breaker's call_result (and every Guard): an Err, never a raise.
    limiter = RateLimiter("api", clock=TestClock())
    problem = KeyError("bad")

    async def broken() -> Result[int, str]:
        raise problem

    failed = await limiter.call_result(broken)
    assert isinstance(failed, Err) and isinstance(failed.error, UnexpectedError)
    assert failed.error.exception_type == "KeyError"
    assert failed.cause is problem
    with pytest.raises(KeyError):
        await limiter.call(broken)  # call() is for plain values: it re-raises


async def test_limiters_sharing_a_memory_store_and_name_share_a_bucket() -> None:
    clock = manual_clock()
    store = MemoryLimiterStore()
    one = RateLimiter("shared", rate=1.0, burst=2, strategy="reject", store=store, clock=clock)
    two = RateLimiter("shared", rate=1.0, burst=2, strategy="reject", store=store, clock=clock)
    other = RateLimiter("other", rate=1.0, burst=2, strategy="reject", store=store, clock=clock)
    await one.acquire()
    await two.acquire()
    with pytest.raises(RateLimitedError):
        await one.acquire()
    await other.acquire()
    assert isinstance(store, LimiterStore)
    assert "buckets=2" in repr(store)


def test_rate_limiter_repr_names_its_options() -> None:
    limiter = RateLimiter("api", rate=5.0, burst=7, strategy="reject")
    assert repr(limiter) == ("RateLimiter('api', rate=5.0, per=1.0, burst=7.0, strategy='reject')")


# -- ConcurrencyLimiter -----------------------------------------------------------------


async def test_never_more_than_max_concurrent_run_at_once() -> None:
    clock = TestClock()
    limiter = ConcurrencyLimiter("db", max_concurrent=3, clock=clock)
    running = 0
    peak = 0

    async def work(value: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await clock.sleep(1.0)
        running -= 1
        return value

    results = await asyncio.gather(*(limiter.call(lambda v=v: work(v)) for v in range(20)))
    assert results == list(range(20))
    assert peak == 3
    assert clock.monotonic() == pytest.approx(math.ceil(20 / 3))
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)


async def test_full_queue_refuses_with_rate_limited() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=1, max_queue=2, clock=manual_clock())
    gate = asyncio.Event()

    async def blocked() -> Result[str, str]:
        await gate.wait()
        return Ok("done")

    running = asyncio.create_task(limiter.call_result(blocked))
    queued = [asyncio.create_task(limiter.call_result(blocked)) for _ in range(2)]
    await settle()
    assert limiter.stats() == ConcurrencyStats(active=1, queued=2)
    assert await limiter.call_result(blocked) == Err(RateLimited("db", None))
    with pytest.raises(RateLimitedError):
        await limiter.call(blocked)
    gate.set()
    assert await asyncio.gather(running, *queued) == [Ok("done")] * 3
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)


async def test_retry_after_is_estimated_from_recent_call_durations() -> None:
    clock = TestClock()
    limiter = ConcurrencyLimiter("db", max_concurrent=1, max_queue=2, clock=clock)

    async def two_seconds() -> Result[None, str]:
        await clock.sleep(2.0)
        return Ok(None)

    assert await limiter.call_result(two_seconds) == Ok(None)
    gate = asyncio.Event()

    async def blocked() -> Result[None, str]:
        await gate.wait()
        return Ok(None)

    tasks = [asyncio.create_task(limiter.call_result(blocked)) for _ in range(3)]
    await settle()
    # One running and two queued: the refused caller's turn is about 3 calls away.
    assert await limiter.call_result(blocked) == Err(RateLimited("db", pytest.approx(6.0)))
    gate.set()
    await asyncio.gather(*tasks)


async def test_reject_strategy_refuses_at_capacity_without_queueing() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=2, strategy="reject", clock=manual_clock())
    gate = asyncio.Event()

    async def blocked() -> int:
        await gate.wait()
        return 1

    tasks = [asyncio.create_task(limiter.call(blocked)) for _ in range(2)]
    await settle()
    with pytest.raises(RateLimitedError) as refused:
        await limiter.call(blocked)
    assert refused.value.error.limiter == "db"
    assert limiter.stats() == ConcurrencyStats(active=2, queued=0)
    gate.set()
    assert await asyncio.gather(*tasks) == [1, 1]
    assert await limiter.call(blocked) == 1


async def test_zero_queue_refuses_once_slots_are_taken() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=1, max_queue=0, clock=manual_clock())
    await limiter.acquire()
    with pytest.raises(RateLimitedError):
        await limiter.acquire()
    limiter.release()
    await limiter.acquire()
    limiter.release()


async def test_map_preserves_order_and_the_limit() -> None:
    clock = TestClock()
    limiter = ConcurrencyLimiter("db", max_concurrent=3, max_queue=0, clock=clock)
    running = 0
    peak = 0

    def job(index: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await clock.sleep(10.0 - index * 0.5)  # later items finish sooner
            running -= 1
            return index * 10

        return run

    # 12 items with no queue room: the batch must feed itself in, not overflow.
    results = await limiter.map(job(i) for i in range(12))
    assert results == [i * 10 for i in range(12)]
    assert peak == 3
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)


async def test_map_of_nothing_is_empty() -> None:
    limiter = ConcurrencyLimiter("db", clock=TestClock())
    assert await limiter.map([]) == []


async def test_map_raises_the_first_error_and_cancels_the_rest() -> None:
    clock = TestClock()
    limiter = ConcurrencyLimiter("db", max_concurrent=2, clock=clock)
    finished: list[int] = []

    async def slow() -> int:
        await clock.sleep(5.0)
        finished.append(1)
        return 1

    async def broken() -> int:
        await clock.sleep(1.0)
        raise ValueError("bad item")

    with pytest.raises(ValueError, match="bad item"):
        await limiter.map([slow, broken, slow, slow])
    assert finished == []
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)


async def test_map_result_turns_refusals_into_errs_per_item() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=2, strategy="reject", clock=manual_clock())
    await limiter.acquire()  # someone else holds one of the two slots
    gate = asyncio.Event()

    async def blocked() -> Result[str, str]:
        await gate.wait()
        return Ok("ran")

    batch = asyncio.create_task(limiter.map_result([blocked, blocked, blocked]))
    await settle()
    gate.set()
    assert await batch == [
        Ok("ran"),
        Err(RateLimited("db", None)),
        Err(RateLimited("db", None)),
    ]
    limiter.release()
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)


async def test_cancelled_queued_waiter_does_not_leak_a_slot() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=1, clock=manual_clock())
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    assert limiter.stats() == ConcurrencyStats(active=1, queued=1)
    waiter.cancel()
    await settle()
    assert waiter.cancelled()
    assert limiter.stats() == ConcurrencyStats(active=1, queued=0)
    limiter.release()
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)
    await limiter.acquire()  # the slot is free again
    assert limiter.stats() == ConcurrencyStats(active=1, queued=0)
    limiter.release()


async def test_waiter_cancelled_right_after_being_handed_a_slot_gives_it_back() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=1, clock=manual_clock())
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    behind = asyncio.create_task(limiter.acquire())
    await settle()
    limiter.release()  # hands the slot to `waiter` ...
    waiter.cancel()  # ... which is cancelled before it runs
    await settle()
    assert waiter.cancelled()
    assert behind.done()  # the slot went on to the next in line
    assert limiter.stats() == ConcurrencyStats(active=1, queued=0)
    limiter.release()
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)


async def test_waiter_cancelled_then_passed_over_by_a_release_still_ends_cancelled() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=1, clock=manual_clock())
    await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await settle()
    waiter.cancel()  # its queue entry is cancelled at once ...
    limiter.release()  # ... and dropped by this release before the waiter's task runs
    await settle()
    assert waiter.cancelled()  # a CancelledError, not a ValueError from the queue
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)
    await limiter.acquire()
    assert limiter.stats() == ConcurrencyStats(active=1, queued=0)
    limiter.release()


async def test_cancelling_a_running_call_releases_its_slot() -> None:
    clock = TestClock()
    limiter = ConcurrencyLimiter("db", max_concurrent=1, clock=clock)
    task = asyncio.create_task(limiter.call(lambda: clock.sleep(100.0)))
    await settle()
    assert limiter.stats().active == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)


async def test_exceptions_release_slots() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=1, max_queue=0, clock=TestClock())

    async def broken() -> Result[int, str]:
        raise RuntimeError("boom")

    for _ in range(3):
        with pytest.raises(RuntimeError, match="boom"):
            await limiter.call(broken)
        failed = await limiter.call_result(broken)
        assert isinstance(failed, Err) and isinstance(failed.error, UnexpectedError)
        assert failed.error.message == "boom"
    assert limiter.stats() == ConcurrencyStats(active=0, queued=0)
    assert await limiter.call_result(_ok_thunk(1)) == Ok(1)


async def test_queued_callers_get_slots_in_arrival_order() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=1, clock=manual_clock())
    await limiter.acquire()
    order: list[int] = []

    async def caller(index: int) -> None:
        async with limiter:
            order.append(index)

    tasks = [asyncio.create_task(caller(i)) for i in range(4)]
    await settle()
    limiter.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]


async def test_release_without_acquire_is_a_programming_error() -> None:
    limiter = ConcurrencyLimiter("db")
    with pytest.raises(RuntimeError, match="without a matching acquire"):
        limiter.release()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_concurrent": 0}, "max_concurrent must be at least 1"),
        ({"max_queue": -1}, "max_queue must not be negative"),
        ({"strategy": "wait"}, "strategy must be 'queue' or 'reject'"),
        ({"name": ""}, "non-empty name"),
    ],
)
def test_concurrency_limiter_rejects_bad_options(kwargs: dict[str, object], message: str) -> None:
    options: dict[str, object] = {"name": "db", **kwargs}
    with pytest.raises(ValueError, match=message):
        ConcurrencyLimiter(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"max_concurrent": 2.5}, {"max_concurrent": True}, {"max_queue": 1.5}]
)
def test_concurrency_limiter_takes_whole_numbers_only(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError, match="must be an int"):
        ConcurrencyLimiter("db", **kwargs)  # type: ignore[arg-type]


def test_concurrency_limiter_exposes_its_options() -> None:
    limiter = ConcurrencyLimiter("db", max_concurrent=4, max_queue=8, strategy="reject")
    assert (limiter.name, limiter.max_concurrent, limiter.max_queue, limiter.strategy) == (
        "db",
        4,
        8,
        "reject",
    )
    assert repr(limiter) == (
        "ConcurrencyLimiter('db', max_concurrent=4, max_queue=8, strategy='reject')"
    )


# -- CombinedLimiter --------------------------------------------------------------------


async def test_combined_limits_both_the_rate_and_the_concurrency() -> None:
    clock = TestClock()
    rate = RateLimiter("api.rate", rate=2.0, burst=1, clock=clock)
    concurrency = ConcurrencyLimiter("api.slots", max_concurrent=1, clock=clock)
    limiter = CombinedLimiter("api", rate=rate, concurrency=concurrency)
    starts: list[float] = []

    async def work() -> int:
        starts.append(clock.monotonic())
        await clock.sleep(1.0)
        return len(starts)

    results = await asyncio.gather(*(limiter.call(work) for _ in range(3)))
    assert sorted(results) == [1, 2, 3]
    # Tokens come every 0.5 s, but each call holds the single slot for 1 s.
    assert starts == pytest.approx([0.0, 1.0, 2.0])
    assert limiter.stats() == CombinedLimiterStats(
        rate=rate.stats(), concurrency=ConcurrencyStats(active=0, queued=0)
    )


async def test_combined_refusals_name_the_part_that_refused() -> None:
    clock = manual_clock()
    rate = RateLimiter("api.rate", rate=1.0, burst=2, strategy="reject", clock=clock)
    concurrency = ConcurrencyLimiter("api.slots", max_concurrent=1, max_queue=0, clock=clock)
    limiter = CombinedLimiter("api", rate=rate, concurrency=concurrency)
    await limiter.acquire()  # one token and the only slot
    assert await limiter.call_result(_ok_thunk(1)) == Err(RateLimited("api.slots", None))
    assert await limiter.call_result(_ok_thunk(1)) == Err(
        RateLimited("api.rate", pytest.approx(1.0))
    )
    limiter.release()
    with pytest.raises(RateLimitedError):
        await limiter.call(_ok_thunk(1))
    limiter.reset()
    async with limiter:
        assert limiter.stats().concurrency == ConcurrencyStats(active=1, queued=0)
    assert await limiter.call_result(_ok_thunk(5)) == Ok(5)
    assert limiter.name == "api"
    assert (limiter.rate, limiter.concurrency) == (rate, concurrency)
    assert "CombinedLimiter('api'" in repr(limiter)


def test_combined_limiter_needs_a_name() -> None:
    with pytest.raises(ValueError, match="non-empty name"):
        CombinedLimiter("", RateLimiter("r"), ConcurrencyLimiter("c"))


async def test_combined_limiter_with_only_a_rate_part() -> None:
    clock = manual_clock()
    rate = RateLimiter("api.rate", rate=1.0, burst=2, strategy="reject", clock=clock)
    limiter = CombinedLimiter("api", rate=rate)
    assert (limiter.rate, limiter.concurrency) == (rate, None)
    assert await limiter.call_result(_ok_thunk(1)) == Ok(1)
    assert await limiter.call(_ok_thunk(2)) == Ok(2)
    assert await limiter.call_result(_ok_thunk(3)) == Err(
        RateLimited("api.rate", pytest.approx(1.0))
    )
    assert limiter.stats() == CombinedLimiterStats(rate=rate.stats(), concurrency=None)
    limiter.reset()
    async with limiter:  # a token, and no slot to give back
        pass
    assert limiter.stats().rate == RateLimiterStats(available_tokens=1.0, waiting=0)


async def test_combined_limiter_with_only_a_concurrency_part() -> None:
    concurrency = ConcurrencyLimiter("db.slots", max_concurrent=1, max_queue=0, clock=TestClock())
    limiter = CombinedLimiter("db", concurrency=concurrency)
    assert (limiter.rate, limiter.concurrency) == (None, concurrency)
    await limiter.acquire()
    assert limiter.stats() == CombinedLimiterStats(
        rate=None, concurrency=ConcurrencyStats(active=1, queued=0)
    )
    assert await limiter.call_result(_ok_thunk(1)) == Err(RateLimited("db.slots", None))
    limiter.release()
    limiter.reset()  # no rate part: nothing to refill
    assert await limiter.call_result(_ok_thunk(2)) == Ok(2)
    assert await limiter.call(_ok_thunk(3)) == Ok(3)


def test_combined_limiter_needs_at_least_one_part() -> None:
    with pytest.raises(ValueError, match="a rate part, a concurrency part, or both"):
        CombinedLimiter("nothing")
    with pytest.raises(ValueError, match="a rate part, a concurrency part, or both"):
        CombinedLimiter("nothing", rate=None, concurrency=None)


class _DownStore:
    """A bucket store whose backend is down: every operation raises LimiterStoreError."""

    async def take(self, key: str, spec: BucketSpec, now: float) -> float:
        raise LimiterStoreError("connection refused", backend="test")

    async def tokens(self, key: str, spec: BucketSpec, now: float) -> float:
        raise LimiterStoreError("connection refused", backend="test")

    def refill(self, key: str, spec: BucketSpec, now: float) -> None:
        pass

    def peek(self, key: str, spec: BucketSpec, now: float) -> float:
        return 0.0


@pytest.mark.parametrize("strategy", ["wait", "reject"])
async def test_a_store_failure_is_an_unexpected_error_from_call_result(
    strategy: RateStrategy,
) -> None:
    # As for the breaker: the call does not run, call_result returns the failure as an
    # Err, and acquire()/call() raise it (a StoreError, like every store's failure).
    ran = False

    async def tracked() -> Result[int, str]:
        nonlocal ran
        ran = True
        return Ok(1)

    for limiter in (
        RateLimiter("api", strategy=strategy, store=_DownStore(), clock=TestClock()),
        CombinedLimiter(
            "both",
            rate=RateLimiter("api", strategy=strategy, store=_DownStore(), clock=TestClock()),
        ),
    ):
        failed = await limiter.call_result(tracked)
        assert isinstance(failed, Err) and isinstance(failed.error, UnexpectedError)
        assert failed.error.exception_type == "resultflow.errors.LimiterStoreError"
        assert failed.error.message == "test: connection refused"
        with pytest.raises(StoreError) as raised:
            await limiter.call(tracked)
        assert isinstance(raised.value, LimiterStoreError)
        assert raised.value.backend == "test"
    assert ran is False


def _every_guard() -> list[Guard]:
    clock = TestClock()
    return [
        CircuitBreaker("breaker", clock=clock),
        RateLimiter("rate", clock=clock),
        ConcurrencyLimiter("slots", clock=clock),
        CombinedLimiter(
            "both", rate=RateLimiter("r", clock=clock), concurrency=ConcurrencyLimiter("c")
        ),
        CombinedLimiter("rate-only", rate=RateLimiter("r", clock=clock)),
        CombinedLimiter("slots-only", concurrency=ConcurrencyLimiter("c", clock=clock)),
    ]


@pytest.mark.parametrize("guard", _every_guard(), ids=lambda guard: guard.name)
async def test_every_guard_returns_an_exception_from_fn_as_an_unexpected_error(
    guard: Guard,
) -> None:
    problem = ConnectionError("reset by peer")

    async def broken() -> Result[int, str]:
        raise problem

    for _ in range(3):  # slots and trial tickets are given back each time
        failed = await guard.call_result(broken)
        assert isinstance(failed, Err)
        assert failed.error == UnexpectedError("ConnectionError", "reset by peer")
        assert failed.cause is problem
    assert await guard.call_result(_ok_thunk(7)) == Ok(7)


@pytest.mark.parametrize("guard", _every_guard(), ids=lambda guard: guard.name)
async def test_every_guard_lets_cancellation_through(guard: Guard) -> None:
    async def cancelled() -> Result[int, str]:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await guard.call_result(cancelled)
    assert await guard.call_result(_ok_thunk(8)) == Ok(8)


# -- presets and the Guard protocol -----------------------------------------------------


def test_presets_have_the_documented_numbers() -> None:
    api = limiter_presets.api("partner")
    assert (api.name, api.rate, api.per, api.burst, api.strategy) == (
        "partner",
        10.0,
        1.0,
        20.0,
        "wait",
    )
    external = limiter_presets.external("geo")
    assert (external.rate, external.burst, external.strategy) == (5.0, 10.0, "wait")
    database = limiter_presets.database("pool")
    assert (database.max_concurrent, database.max_queue, database.strategy) == (10, 100, "queue")


async def test_presets_return_new_limiters_that_share_nothing() -> None:
    clock = manual_clock()
    first = limiter_presets.api("same-name", clock=clock)
    second = limiter_presets.api("same-name", clock=clock)
    assert first is not second
    for _ in range(20):
        await first.acquire()
    assert first.stats().available_tokens == 0.0
    assert second.stats().available_tokens == 20.0
    assert limiter_presets.database("a") is not limiter_presets.database("a")


async def test_presets_accept_a_shared_store_on_purpose() -> None:
    clock = manual_clock()
    store = MemoryLimiterStore()
    first = limiter_presets.external("geo", store=store, clock=clock)
    second = limiter_presets.external("geo", store=store, clock=clock)
    for _ in range(10):
        await first.acquire()
    assert second.stats().available_tokens == 0.0


def test_every_limiter_is_a_guard() -> None:
    rate = RateLimiter("r")
    concurrency = ConcurrencyLimiter("c")
    combined = CombinedLimiter("both", rate, concurrency)
    guards: list[Guard] = [rate, concurrency, combined]
    assert all(isinstance(guard, Guard) for guard in guards)
    assert [guard.name for guard in guards] == ["r", "c", "both"]


async def test_a_guard_call_result_refuses_with_rate_limited() -> None:
    guard: Guard = RateLimiter("r", rate=1.0, burst=1, strategy="reject", clock=manual_clock())
    assert await guard.call_result(_ok_thunk(1)) == Ok(1)
    assert await guard.call_result(_ok_thunk(2)) == Err(RateLimited("r", pytest.approx(1.0)))


def _ok_thunk(value: int) -> Callable[[], Awaitable[Result[int, str]]]:
    async def thunk() -> Result[int, str]:
        return Ok(value)

    return thunk
