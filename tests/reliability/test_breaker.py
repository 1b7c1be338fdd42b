"""CircuitBreaker with the memory store: every transition, driven by a TestClock."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from resultflow.errors import CircuitOpen, StoreError, UnexpectedError
from resultflow.reliability._breaker import (
    BreakerStats,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
    breaker_presets,
)
from resultflow.reliability._breaker_store import (
    Admission,
    BreakerConfig,
    BreakerRecord,
    BreakerStore,
    BreakerStoreError,
    MemoryBreakerStore,
    Ticket,
    Update,
)
from resultflow.reliability._guard import Guard
from resultflow.result import Err, Ok, Result
from resultflow.testing._clock import TestClock

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN


class Boom(Exception):
    """A failure of the protected dependency."""


class NotFound(Exception):
    """A business answer, not an outage."""


async def ok() -> Result[str, str]:
    return Ok("fine")


async def err() -> Result[str, str]:
    return Err("down")


async def boom() -> str:
    raise Boom("down")


async def plain() -> str:
    return "fine"


def make(clock: TestClock, **options: object) -> CircuitBreaker:
    settings: dict[str, object] = {"failure_threshold": 3, "reset_timeout": 30.0}
    settings.update(options)
    return CircuitBreaker("svc", clock=clock, **settings)  # type: ignore[arg-type]


async def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.config.failure_threshold):
        await breaker.call_result(err)
    assert breaker.stats().state is OPEN


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


# -- closed -> open ------------------------------------------------------------------


async def test_opens_at_the_threshold_and_refuses_without_calling(clock: TestClock) -> None:
    breaker = make(clock)
    assert await breaker.call_result(err) == Err("down")
    assert await breaker.call_result(err) == Err("down")
    assert breaker.stats().state is CLOSED
    assert breaker.stats().failure_count == 2
    assert await breaker.call_result(err) == Err("down")
    assert breaker.stats().state is OPEN

    calls = 0

    async def counted() -> Result[str, str]:
        nonlocal calls
        calls += 1
        return Ok("fine")

    refused = await breaker.call_result(counted)
    assert refused == Err(CircuitOpen("svc", 30.0))
    assert calls == 0


async def test_call_opens_on_exceptions_and_raises_circuit_open_error(clock: TestClock) -> None:
    breaker = make(clock)
    for _ in range(3):
        with pytest.raises(Boom):
            await breaker.call(boom)
    with pytest.raises(CircuitOpenError) as info:
        await breaker.call(plain)
    assert info.value.error == CircuitOpen("svc", 30.0)
    assert "'svc' is open" in str(info.value)


async def test_successes_do_not_erase_failures_in_the_window(clock: TestClock) -> None:
    breaker = make(clock)
    for _ in range(2):
        await breaker.call_result(err)
        assert await breaker.call_result(ok) == Ok("fine")
    assert breaker.stats() == BreakerStats(CLOSED, 2, 2, 0, 0.0)
    await breaker.call_result(err)
    assert breaker.stats().state is OPEN


async def test_failures_outside_the_window_do_not_count(clock: TestClock) -> None:
    breaker = make(clock, window=10.0)
    await breaker.call_result(err)
    await breaker.call_result(err)
    clock.advance(10.0)  # both failures are now exactly `window` old: out
    assert breaker.stats().failure_count == 0
    await breaker.call_result(err)
    clock.advance(5.0)
    await breaker.call_result(err)
    assert breaker.stats() == BreakerStats(CLOSED, 2, 0, 0, 0.0)
    clock.advance(4.9)
    await breaker.call_result(err)  # three failures within 10 s
    assert breaker.stats().state is OPEN


# -- open ----------------------------------------------------------------------------


async def test_retry_after_decreases_as_time_passes(clock: TestClock) -> None:
    breaker = make(clock)
    await trip(breaker)
    assert breaker.stats().retry_after == 30.0
    clock.advance(10.0)
    assert breaker.stats().retry_after == pytest.approx(20.0)
    assert await breaker.call_result(ok) == Err(CircuitOpen("svc", pytest.approx(20.0)))
    clock.advance(19.5)
    refused = await breaker.call_result(ok)
    assert isinstance(refused, Err)
    assert isinstance(refused.error, CircuitOpen)
    assert refused.error.retry_after == pytest.approx(0.5)


async def test_late_failure_of_an_earlier_call_does_not_restart_the_timer(
    clock: TestClock,
) -> None:
    breaker = make(clock)
    gate = asyncio.Event()

    async def slow_failure() -> Result[str, str]:
        await gate.wait()
        return Err("late")

    late = asyncio.create_task(breaker.call_result(slow_failure))
    await asyncio.sleep(0)
    await trip(breaker)
    clock.advance(10.0)
    gate.set()
    assert await late == Err("late")
    assert breaker.stats().state is OPEN
    assert breaker.stats().retry_after == pytest.approx(20.0)


# -- half-open -----------------------------------------------------------------------


async def test_stats_report_half_open_once_the_reset_timeout_passes(clock: TestClock) -> None:
    changes: list[tuple[CircuitState, CircuitState]] = []
    breaker = make(clock, on_state_change=lambda old, new: changes.append((old, new)))
    await trip(breaker)
    clock.advance(29.9)
    assert breaker.stats().state is OPEN
    clock.advance(0.1)
    assert breaker.stats() == BreakerStats(HALF_OPEN, 3, 0, 0, 0.0)
    # The store only moves when a call arrives; the callback follows the store.
    assert changes == [(CLOSED, OPEN)]


async def test_a_trial_success_closes_the_circuit(clock: TestClock) -> None:
    breaker = make(clock)
    await trip(breaker)
    clock.advance(30.0)
    assert await breaker.call_result(ok) == Ok("fine")
    assert breaker.stats() == BreakerStats(CLOSED, 0, 0, 0, 0.0)
    assert await breaker.call(plain) == "fine"


async def test_success_threshold_needs_several_trial_successes(clock: TestClock) -> None:
    breaker = make(clock, success_threshold=3)
    await trip(breaker)
    clock.advance(30.0)
    for expected in (1, 2):
        assert await breaker.call_result(ok) == Ok("fine")
        stats = breaker.stats()
        assert stats.state is HALF_OPEN
        assert stats.half_open_successes == expected
    assert await breaker.call_result(ok) == Ok("fine")
    assert breaker.stats().state is CLOSED


async def test_a_trial_failure_reopens_and_restarts_the_timeout(clock: TestClock) -> None:
    breaker = make(clock, success_threshold=2)
    await trip(breaker)
    clock.advance(45.0)
    assert await breaker.call_result(ok) == Ok("fine")
    assert breaker.stats().half_open_successes == 1
    assert await breaker.call_result(err) == Err("down")
    stats = breaker.stats()
    assert stats.state is OPEN
    assert stats.retry_after == 30.0
    assert stats.half_open_successes == 0
    clock.advance(30.0)
    assert breaker.stats().state is HALF_OPEN


async def test_a_raising_trial_reopens_through_call(clock: TestClock) -> None:
    breaker = make(clock)
    await trip(breaker)
    clock.advance(30.0)
    with pytest.raises(Boom):
        await breaker.call(boom)
    assert breaker.stats().state is OPEN


@pytest.mark.parametrize("half_open_max", [1, 2, 5])
async def test_half_open_admits_at_most_half_open_max_concurrent_trials(
    clock: TestClock, half_open_max: int
) -> None:
    breaker = make(clock, half_open_max=half_open_max, success_threshold=half_open_max)
    await trip(breaker)
    clock.advance(30.0)
    active = peak = ran = 0

    async def trial() -> Result[str, str]:
        nonlocal active, peak, ran
        active += 1
        ran += 1
        peak = max(peak, active)
        await clock.sleep(1.0)  # virtual time moves only once all 50 callers are in
        active -= 1
        return Ok("probe")

    results = await asyncio.gather(*(breaker.call_result(trial) for _ in range(50)))
    assert peak == half_open_max
    assert ran == half_open_max
    assert results.count(Ok("probe")) == half_open_max
    assert results.count(Err(CircuitOpen("svc", 0.0))) == 50 - half_open_max
    assert breaker.stats().state is CLOSED


async def test_half_open_limit_holds_for_call_too(clock: TestClock) -> None:
    breaker = make(clock, half_open_max=2)
    await trip(breaker)
    clock.advance(30.0)
    active = peak = 0

    async def trial() -> str:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await clock.sleep(1.0)
        active -= 1
        return "probe"

    outcomes = await asyncio.gather(
        *(breaker.call(trial) for _ in range(50)), return_exceptions=True
    )
    assert peak == 2
    assert outcomes.count("probe") == 2
    refusals = [o for o in outcomes if isinstance(o, CircuitOpenError)]
    assert len(refusals) == 48
    assert all(r.error == CircuitOpen("svc", 0.0) for r in refusals)


async def test_a_cancelled_trial_gives_its_slot_back(clock: TestClock) -> None:
    breaker = make(clock)
    await trip(breaker)
    clock.advance(30.0)
    gate = asyncio.Event()

    async def hangs() -> Result[str, str]:
        await gate.wait()
        return Ok("never")

    task = asyncio.create_task(breaker.call_result(hangs))
    await asyncio.sleep(0)
    assert await breaker.call_result(ok) == Err(CircuitOpen("svc", 0.0))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await breaker.call_result(ok) == Ok("fine")
    assert breaker.stats().state is CLOSED


async def test_a_hung_trial_slot_is_reclaimed_after_reset_timeout(clock: TestClock) -> None:
    breaker = make(clock)
    await trip(breaker)
    clock.advance(30.0)
    gate = asyncio.Event()

    async def hangs() -> Result[str, str]:
        await gate.wait()
        return Err("too late")

    task = asyncio.create_task(breaker.call_result(hangs))
    await asyncio.sleep(0)
    clock.advance(29.0)
    assert await breaker.call_result(ok) == Err(CircuitOpen("svc", 0.0))
    clock.advance(1.0)
    assert await breaker.call_result(ok) == Ok("fine")
    assert breaker.stats().state is CLOSED
    gate.set()
    assert await task == Err("too late")  # from an older half-open episode: ignored
    assert breaker.stats().state is CLOSED
    assert breaker.stats().failure_count == 1


async def test_a_stale_trial_outcome_does_not_move_the_state(clock: TestClock) -> None:
    breaker = make(clock, half_open_max=2, success_threshold=1)
    await trip(breaker)
    clock.advance(30.0)
    release_success = asyncio.Event()

    async def slow_success() -> Result[str, str]:
        await release_success.wait()
        return Ok("slow")

    slow = asyncio.create_task(breaker.call_result(slow_success))
    await asyncio.sleep(0)
    assert await breaker.call_result(err) == Err("down")  # the other trial fails: reopen
    release_success.set()
    assert await slow == Ok("slow")
    assert breaker.stats().state is OPEN


class GeneralPathStore(MemoryBreakerStore):
    """The memory store, not exactly: the breaker asks it through the store protocol."""


@pytest.mark.parametrize("store_type", [MemoryBreakerStore, GeneralPathStore])
async def test_a_call_from_before_a_reset_does_not_reopen_the_circuit(
    clock: TestClock, store_type: type[MemoryBreakerStore]
) -> None:
    breaker = make(clock, failure_threshold=1, store=store_type())
    gate = asyncio.Event()

    async def slow_failure() -> Result[str, str]:
        await gate.wait()
        return Err("late")

    late = asyncio.create_task(breaker.call_result(slow_failure))
    await asyncio.sleep(0)  # admitted while CLOSED
    await breaker.reset()
    gate.set()
    assert await late == Err("late")
    stats = breaker.stats()
    assert stats.state is CLOSED  # counted, but it does not move the state
    assert stats.failure_count == 1
    assert await breaker.call_result(err) == Err("down")  # a fresh failure still trips it
    assert breaker.stats().state is OPEN


@pytest.mark.parametrize("store_type", [MemoryBreakerStore, GeneralPathStore])
async def test_a_call_from_before_a_recovery_does_not_reopen_the_circuit(
    clock: TestClock, store_type: type[MemoryBreakerStore]
) -> None:
    breaker = make(clock, failure_threshold=1, store=store_type())
    gate = asyncio.Event()

    async def slow_boom() -> str:
        await gate.wait()
        raise Boom("late")

    late = asyncio.create_task(breaker.call(slow_boom))
    await asyncio.sleep(0)  # admitted while CLOSED
    await trip(breaker)
    clock.advance(30.0)
    assert await breaker.call_result(ok) == Ok("fine")  # the trial closes it again
    gate.set()
    with pytest.raises(Boom):
        await late
    assert breaker.stats().state is CLOSED


# -- is_failure ----------------------------------------------------------------------


async def test_is_failure_filters_exceptions_for_call(clock: TestClock) -> None:
    seen: list[object] = []

    def is_failure(error: object) -> bool:
        seen.append(error)
        return not isinstance(error, NotFound)

    breaker = make(clock, failure_threshold=1, is_failure=is_failure)

    async def not_found() -> str:
        raise NotFound("no such user")

    for _ in range(3):
        with pytest.raises(NotFound):
            await breaker.call(not_found)
    assert breaker.stats() == BreakerStats(CLOSED, 0, 3, 0, 0.0)
    assert all(isinstance(e, NotFound) for e in seen)
    with pytest.raises(Boom):
        await breaker.call(boom)
    assert breaker.stats().state is OPEN


async def test_is_failure_filters_err_values_for_call_result(clock: TestClock) -> None:
    seen: list[object] = []

    def is_failure(error: object) -> bool:
        seen.append(error)
        return error != "not found"

    breaker = make(clock, failure_threshold=1, is_failure=is_failure)

    async def not_found() -> Result[str, str]:
        return Err("not found")

    for _ in range(3):
        assert await breaker.call_result(not_found) == Err("not found")
    assert breaker.stats() == BreakerStats(CLOSED, 0, 3, 0, 0.0)
    assert seen == ["not found"] * 3
    await breaker.call_result(err)
    assert breaker.stats().state is OPEN
    assert seen[-1] == "down"


async def test_call_result_turns_a_raise_into_unexpected_error_and_counts_it(
    clock: TestClock,
) -> None:
    breaker = make(clock, failure_threshold=2, is_failure=lambda _: False)

    async def raises() -> Result[str, str]:
        raise Boom("socket closed")

    first = await breaker.call_result(raises)
    assert isinstance(first, Err)
    assert isinstance(first.error, UnexpectedError)
    assert first.error.exception_type == "test_breaker.Boom"
    assert first.error.message == "socket closed"
    assert isinstance(first.cause, Boom)
    await breaker.call_result(raises)
    assert breaker.stats().state is OPEN  # counted although is_failure says False


async def test_a_raising_is_failure_propagates_and_frees_the_trial(clock: TestClock) -> None:
    def is_failure(error: object) -> bool:
        raise RuntimeError("bad predicate")

    breaker = make(clock, failure_threshold=1)
    await trip(breaker)
    clock.advance(30.0)
    judged = CircuitBreaker(
        "svc", failure_threshold=1, store=breaker.store, clock=clock, is_failure=is_failure
    )
    with pytest.raises(RuntimeError, match="bad predicate"):
        await judged.call_result(err)
    assert await breaker.call_result(ok) == Ok("fine")  # the slot was given back


async def test_call_result_rejects_a_function_that_returns_no_result(clock: TestClock) -> None:
    breaker = make(clock)
    await trip(breaker)
    clock.advance(30.0)

    async def wrong() -> Result[str, str]:
        return "plain"  # type: ignore[return-value]

    with pytest.raises(TypeError, match="use call\\(\\) for plain values"):
        await breaker.call_result(wrong)
    assert await breaker.call_result(ok) == Ok("fine")


# -- callbacks, reset, stats ---------------------------------------------------------


async def test_on_state_change_sees_every_transition_in_order(clock: TestClock) -> None:
    changes: list[tuple[CircuitState, CircuitState]] = []
    breaker = make(clock, on_state_change=lambda old, new: changes.append((old, new)))
    await trip(breaker)
    clock.advance(30.0)
    await breaker.call_result(err)
    clock.advance(30.0)
    await breaker.call_result(ok)
    assert changes == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


async def test_a_raising_callback_is_logged_not_raised(
    clock: TestClock, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(old: CircuitState, new: CircuitState) -> None:
        raise RuntimeError("listener bug")

    breaker = make(clock, on_state_change=explode)
    with caplog.at_level(logging.ERROR, logger="resultflow.reliability._breaker"):
        await trip(breaker)
    assert breaker.stats().state is OPEN
    [entry] = caplog.records
    assert "on_state_change of breaker 'svc' failed (CLOSED -> OPEN)" in entry.getMessage()
    assert entry.exc_info is not None


async def test_reset_closes_and_forgets(clock: TestClock) -> None:
    changes: list[tuple[CircuitState, CircuitState]] = []
    breaker = make(clock, on_state_change=lambda old, new: changes.append((old, new)))
    await breaker.call_result(ok)
    await trip(breaker)
    await breaker.reset()
    assert breaker.stats() == BreakerStats(CLOSED, 0, 0, 0, 0.0)
    assert changes == [(CLOSED, OPEN), (OPEN, CLOSED)]
    await breaker.reset()  # already closed: no callback
    assert len(changes) == 2
    assert await breaker.call_result(ok) == Ok("fine")
    assert await breaker.fetch_stats() == BreakerStats(CLOSED, 0, 1, 0, 0.0)


async def test_stats_is_a_frozen_dataclass(clock: TestClock) -> None:
    stats = make(clock).stats()
    assert stats == BreakerStats(CLOSED, 0, 0, 0, 0.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.state = OPEN  # type: ignore[misc]


async def test_breakers_sharing_a_memory_store_share_state(clock: TestClock) -> None:
    store = MemoryBreakerStore()
    first = CircuitBreaker("svc", failure_threshold=2, store=store, clock=clock)
    second = CircuitBreaker("svc", failure_threshold=2, store=store, clock=clock)
    other = CircuitBreaker("other", failure_threshold=2, store=store, clock=clock)
    alone = CircuitBreaker("svc", failure_threshold=2, clock=clock)
    await first.call_result(err)
    await second.call_result(err)
    assert second.stats().state is OPEN
    assert first.stats().state is OPEN
    assert other.stats().state is CLOSED
    assert alone.stats().state is CLOSED
    assert await other.call_result(ok) == Ok("fine")


# -- the Guard protocol, presets, bad input ------------------------------------------


def test_a_breaker_is_a_guard() -> None:
    breaker = CircuitBreaker("payments")
    guard: Guard = breaker
    assert isinstance(breaker, Guard)
    assert guard.name == "payments"
    assert isinstance(MemoryBreakerStore(), BreakerStore)


@pytest.mark.parametrize(
    ("preset", "threshold", "reset_timeout"),
    [("critical", 3, 60.0), ("standard", 5, 30.0), ("lenient", 10, 15.0)],
)
def test_presets_make_new_breakers_with_documented_numbers(
    preset: str, threshold: int, reset_timeout: float
) -> None:
    factory = getattr(breaker_presets, preset)
    first = factory("payments")
    second = factory("payments")
    assert isinstance(first, CircuitBreaker)
    assert first is not second
    assert first.store is not second.store
    assert first.name == "payments"
    assert first.config == BreakerConfig(
        failure_threshold=threshold,
        reset_timeout=reset_timeout,
        half_open_max=1,
        success_threshold=1,
        window=60.0,
    )


async def test_presets_pass_other_options_through(clock: TestClock) -> None:
    store = MemoryBreakerStore()
    breaker = breaker_presets.critical("db", store=store, clock=clock, window=5.0)
    assert breaker.store is store
    assert breaker.config.window == 5.0
    for _ in range(3):
        await breaker.call_result(err)
    assert breaker.stats() == BreakerStats(OPEN, 3, 0, 0, 60.0)


@pytest.mark.parametrize(
    "options",
    [
        {"failure_threshold": 0},
        {"failure_threshold": 2.5},
        {"failure_threshold": True},
        {"half_open_max": 0},
        {"success_threshold": -1},
        {"reset_timeout": 0},
        {"reset_timeout": -1.0},
        {"window": 0.0},
        {"window": "60"},
    ],
)
def test_bad_numbers_are_rejected(options: dict[str, object]) -> None:
    name = next(iter(options))
    with pytest.raises(ValueError, match=name):
        CircuitBreaker("svc", **options)  # type: ignore[arg-type]


def test_an_empty_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="non-empty str name"):
        CircuitBreaker("")


# -- a failing store -----------------------------------------------------------------


class FlakyStore:
    """A store seam: delegates to memory, failing the operations named in `failing`."""

    def __init__(self, *failing: str) -> None:
        self.inner = MemoryBreakerStore()
        self.failing = set(failing)

    def _check(self, op: str) -> None:
        if op in self.failing:
            raise BreakerStoreError(f"store down during {op}")

    async def admit(self, name: str, config: BreakerConfig, now: float, token: str) -> Admission:
        self._check("admit")
        return await self.inner.admit(name, config, now, token)

    async def record(
        self, name: str, config: BreakerConfig, now: float, ticket: Ticket, *, failed: bool
    ) -> Update:
        self._check("record")
        return await self.inner.record(name, config, now, ticket, failed=failed)

    async def release(self, name: str, config: BreakerConfig, now: float, ticket: Ticket) -> Update:
        self._check("release")
        return await self.inner.release(name, config, now, ticket)

    async def load(self, name: str, config: BreakerConfig, now: float) -> BreakerRecord:
        self._check("load")
        return await self.inner.load(name, config, now)

    async def reset(self, name: str, config: BreakerConfig, now: float) -> Update:
        self._check("reset")
        return await self.inner.reset(name, config, now)

    def peek(self, name: str) -> BreakerRecord | None:
        return self.inner.peek(name)


async def test_a_store_failure_before_the_call_does_not_run_it(clock: TestClock) -> None:
    breaker = CircuitBreaker("svc", store=FlakyStore("admit"), clock=clock)
    ran = False

    async def tracked() -> Result[str, str]:
        nonlocal ran
        ran = True
        return Ok("fine")

    refused = await breaker.call_result(tracked)
    assert isinstance(refused, Err)
    assert isinstance(refused.error, UnexpectedError)
    # The exception's public name: defined in resultflow.errors, under StoreError.
    assert refused.error.exception_type == "resultflow.errors.BreakerStoreError"
    assert refused.error.message == "breaker store: store down during admit"
    with pytest.raises(StoreError, match="store down during admit") as raised:
        await breaker.call(plain)
    assert isinstance(raised.value, BreakerStoreError)
    assert raised.value.backend == "breaker store"
    assert raised.value.detail == "store down during admit"
    assert ran is False


async def test_a_store_failure_after_the_call_keeps_the_outcome(
    clock: TestClock, caplog: pytest.LogCaptureFixture
) -> None:
    breaker = CircuitBreaker("svc", store=FlakyStore("record"), clock=clock)
    with caplog.at_level(logging.WARNING, logger="resultflow.reliability._breaker"):
        assert await breaker.call_result(ok) == Ok("fine")
        assert await breaker.call(plain) == "fine"
    assert len(caplog.records) == 2
    assert "could not record an outcome" in caplog.records[0].getMessage()
