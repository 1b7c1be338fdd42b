"""RetryPolicy schedules (on tenacity), validation, and the standalone retry_call."""

from __future__ import annotations

import dataclasses
import math

import pytest
import tenacity
from hypothesis import given
from hypothesis import strategies as st

from resultflow.errors import (
    CircuitOpen,
    RateLimited,
    StepTimeout,
    TaggedError,
    UnexpectedError,
)
from resultflow.reliability._retry import RetryPolicy, retry_call, retry_call_sync
from resultflow.result import Err, Ok
from resultflow.testing._clock import TestClock


class Flaky(TaggedError):
    """A test error."""

    n: int


class Fatal(TaggedError):
    """An error that must not be retried."""


def schedule(policy: RetryPolicy, upto: int) -> list[float | None]:
    return [policy.next_delay(n, 0.0) for n in range(1, upto + 1)]


# -- formulas ------------------------------------------------------------------------
def test_fixed_backoff_waits_initial_each_time() -> None:
    policy = RetryPolicy(attempts=4, backoff="fixed", initial=0.5, jitter=False)
    assert schedule(policy, 4) == [0.5, 0.5, 0.5, None]


def test_linear_backoff_is_initial_times_attempts_made() -> None:
    policy = RetryPolicy(attempts=5, backoff="linear", initial=0.3, jitter=False)
    delays = schedule(policy, 5)
    assert delays[-1] is None
    assert delays[:-1] == pytest.approx([0.3, 0.6, 0.9, 1.2])


def test_exponential_backoff_uses_multiplier_powers() -> None:
    policy = RetryPolicy(attempts=5, initial=0.1, multiplier=3.0, jitter=False)
    delays = schedule(policy, 5)
    assert delays[:-1] == pytest.approx([0.1, 0.3, 0.9, 2.7])
    assert delays[-1] is None


def test_default_policy_is_three_attempts_exponential_from_100ms() -> None:
    policy = RetryPolicy(jitter=False)
    assert schedule(policy, 3) == [0.1, 0.2, None]


@pytest.mark.parametrize("backoff", ["fixed", "linear", "exponential"])
def test_every_backoff_is_capped_at_max_delay(backoff: str) -> None:
    policy = RetryPolicy(
        attempts=50,
        backoff=backoff,  # type: ignore[arg-type]
        initial=4.0,
        max_delay=3.0,
        jitter=False,
    )
    assert schedule(policy, 49) == [3.0] * 49


def test_exponential_cap_holds_for_huge_attempt_numbers() -> None:
    policy = RetryPolicy(attempts=10_000, initial=1.0, max_delay=60.0, jitter=False)
    assert policy.next_delay(5_000, 0.0) == 60.0


def test_zero_initial_means_no_wait() -> None:
    policy = RetryPolicy(attempts=3, initial=0.0)
    assert schedule(policy, 3) == [0.0, 0.0, None]


def test_one_attempt_never_retries() -> None:
    assert RetryPolicy(attempts=1).next_delay(1, 0.0) is None


# -- jitter --------------------------------------------------------------------------
@given(
    attempt=st.integers(min_value=1, max_value=40),
    initial=st.floats(min_value=0.0, max_value=50.0),
    max_delay=st.floats(min_value=0.0, max_value=100.0),
    backoff=st.sampled_from(["fixed", "linear", "exponential"]),
)
def test_full_jitter_stays_in_zero_to_delay(
    attempt: int, initial: float, max_delay: float, backoff: str
) -> None:
    kwargs: dict[str, object] = {"initial": initial, "max_delay": max_delay, "backoff": backoff}
    exact = RetryPolicy(attempts=100, jitter=False, **kwargs).next_delay(attempt, 0.0)  # type: ignore[arg-type]
    jittered = RetryPolicy(attempts=100, jitter=True, **kwargs).next_delay(attempt, 0.0)  # type: ignore[arg-type]
    assert exact is not None
    assert jittered is not None
    assert exact <= max_delay
    assert 0.0 <= jittered <= exact


@given(
    attempt=st.integers(min_value=1, max_value=40),
    initial=st.floats(min_value=0.001, max_value=50.0),
    max_delay=st.floats(min_value=0.001, max_value=100.0),
    fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_fractional_jitter_stays_in_band_below_the_cap(
    attempt: int, initial: float, max_delay: float, fraction: float
) -> None:
    exact = RetryPolicy(attempts=100, initial=initial, max_delay=max_delay, jitter=False)
    jittered = RetryPolicy(attempts=100, initial=initial, max_delay=max_delay, jitter=fraction)
    delay = exact.next_delay(attempt, 0.0)
    drawn = jittered.next_delay(attempt, 0.0)
    assert delay is not None
    assert drawn is not None
    assert delay * (1 - fraction) - 1e-9 <= drawn <= delay <= max_delay


def test_jitter_actually_varies_the_delay() -> None:
    policy = RetryPolicy(attempts=10, initial=1.0, jitter=True)
    draws = {policy.next_delay(3, 0.0) for _ in range(50)}
    assert len(draws) > 10


def test_zero_jitter_fraction_is_exact() -> None:
    policy = RetryPolicy(attempts=10, initial=1.0, jitter=0.0)
    assert {policy.next_delay(3, 0.0) for _ in range(20)} == {4.0}


# -- tenacity objects given directly ---------------------------------------------------
def test_tenacity_wait_replaces_backoff() -> None:
    policy = RetryPolicy(attempts=4, wait=tenacity.wait_fixed(2))
    assert schedule(policy, 4) == [2.0, 2.0, 2.0, None]


def test_tenacity_wait_is_used_as_given_not_capped_or_jittered() -> None:
    policy = RetryPolicy(attempts=3, max_delay=1.0, wait=tenacity.wait_fixed(5))
    assert policy.next_delay(1, 0.0) == 5.0


def test_tenacity_stop_after_delay_replaces_attempts() -> None:
    policy = RetryPolicy(attempts=1, wait=tenacity.wait_fixed(2), stop=tenacity.stop_after_delay(5))
    assert policy.next_delay(1, 0.0) == 2.0
    assert policy.next_delay(3, 4.9) == 2.0
    assert policy.next_delay(4, 5.0) is None


def test_tenacity_stop_before_delay_sees_the_upcoming_sleep() -> None:
    policy = RetryPolicy(wait=tenacity.wait_fixed(3), stop=tenacity.stop_before_delay(5))
    assert policy.next_delay(1, 1.5) == 3.0
    assert policy.next_delay(2, 2.5) is None


def test_combined_tenacity_stops_and_waits() -> None:
    policy = RetryPolicy(
        wait=tenacity.wait_fixed(1) + tenacity.wait_fixed(0.5),
        stop=tenacity.stop_after_attempt(3) | tenacity.stop_after_delay(10),
    )
    assert policy.next_delay(1, 0.0) == 1.5
    assert policy.next_delay(2, 11.0) is None
    assert policy.next_delay(3, 0.0) is None


def test_tenacity_wait_exception_receives_the_exception_behind_an_unexpected_error() -> None:
    seen: list[BaseException] = []

    def by_exception(exc: BaseException) -> float:
        seen.append(exc)
        return 7.0 if isinstance(exc, ConnectionError) else 1.0

    policy = RetryPolicy(wait=tenacity.wait_exception(by_exception))
    boom = ConnectionError("down")
    assert policy.next_delay(1, 0.0, UnexpectedError.from_exception(boom)) == 7.0
    assert seen == [boom]


def test_tenacity_sees_error_values_as_the_attempt_result() -> None:
    seen: list[object] = []

    def wait(state: tenacity.RetryCallState) -> float:
        assert state.outcome is not None
        seen.append((state.attempt_number, state.outcome.result(), state.seconds_since_start))
        return 0.25

    policy = RetryPolicy(attempts=5, wait=wait)
    assert policy.next_delay(2, 1.5, Flaky(1)) == 0.25
    assert seen == [(2, Flaky(1), 1.5)]


def test_plain_callables_are_accepted_as_wait_and_stop() -> None:
    policy = RetryPolicy(
        wait=lambda state: float(state.attempt_number),
        stop=lambda state: state.attempt_number >= 2,
    )
    assert policy.next_delay(1, 0.0) == 1.0
    assert policy.next_delay(2, 0.0) is None


# -- should_retry ----------------------------------------------------------------------
def test_every_error_is_retried_by_default() -> None:
    policy = RetryPolicy()
    assert policy.should_retry(Flaky(1))
    assert policy.should_retry(UnexpectedError.from_exception(ValueError("x")))
    assert policy.should_retry("any value")


def test_retry_on_selects_errors() -> None:
    policy = RetryPolicy(retry_on=lambda error: isinstance(error, Flaky))
    assert policy.should_retry(Flaky(1))
    assert not policy.should_retry(Fatal())


def test_timeouts_are_retried_only_with_retry_on_timeout() -> None:
    timeout = StepTimeout("fetch", 5.0)
    assert not RetryPolicy().should_retry(timeout)
    assert RetryPolicy(retry_on_timeout=True).should_retry(timeout)


def test_retry_on_is_not_consulted_for_timeouts() -> None:
    calls: list[object] = []

    def retry_on(error: object) -> bool:
        calls.append(error)
        return False

    policy = RetryPolicy(retry_on=retry_on, retry_on_timeout=True)
    assert policy.should_retry(StepTimeout("fetch", 1.0))
    assert calls == []


# -- coerce, equality, replace ---------------------------------------------------------
def test_coerce_turns_an_int_into_attempts() -> None:
    assert RetryPolicy.coerce(5) == RetryPolicy(attempts=5)
    policy = RetryPolicy(attempts=2, backoff="fixed")
    assert RetryPolicy.coerce(policy) is policy


@pytest.mark.parametrize("value", [True, 2.5, "3", None])
def test_coerce_rejects_other_values(value: object) -> None:
    with pytest.raises(TypeError, match="number of attempts"):
        RetryPolicy.coerce(value)  # type: ignore[arg-type]


def test_policies_are_frozen_values() -> None:
    policy = RetryPolicy(attempts=2)
    assert policy == RetryPolicy(attempts=2)
    assert hash(policy) == hash(RetryPolicy(attempts=2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.attempts = 3  # type: ignore[misc]


def test_replace_rebuilds_the_schedule() -> None:
    policy = dataclasses.replace(RetryPolicy(jitter=False), attempts=4, backoff="linear")
    assert schedule(policy, 4) == pytest.approx([0.1, 0.2, 0.3, None])


def test_next_delay_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        RetryPolicy().next_delay(0, 0.0)


# -- validation ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attempts": 0}, "attempts counts every try"),
        ({"attempts": -2}, "attempts counts every try"),
        ({"initial": -0.1}, "initial is a delay"),
        ({"initial": math.nan}, "initial is a delay"),
        ({"initial": math.inf}, "initial must be finite"),
        ({"max_delay": -1.0}, "max_delay is a delay"),
        ({"multiplier": 0.5}, "multiplier must be"),
        ({"jitter": 1.5}, "jitter must be"),
        ({"jitter": -0.1}, "jitter must be"),
        ({"backoff": "quadratic"}, "backoff must be one of"),
    ],
)
def test_invalid_arguments_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempts": 2.0},
        {"attempts": True},
        {"initial": "1"},
        {"jitter": "yes"},
        {"retry_on": 3},
        {"wait": 2},
        {"stop": "never"},
    ],
)
def test_wrongly_typed_arguments_raise_type_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(TypeError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_infinite_max_delay_is_allowed() -> None:
    policy = RetryPolicy(attempts=4, initial=1.0, max_delay=math.inf, jitter=False)
    assert schedule(policy, 4) == [1.0, 2.0, 4.0, None]


# -- retry_call ----------------------------------------------------------------------
async def test_retry_call_backs_off_in_virtual_time() -> None:
    clock = TestClock()
    calls: list[float] = []

    async def op() -> Ok[str] | Err[Flaky]:
        calls.append(clock.monotonic())
        return Err(Flaky(len(calls))) if len(calls) < 4 else Ok("done")

    policy = RetryPolicy(attempts=4, backoff="fixed", initial=10.0, jitter=False)
    result = await retry_call(op, policy, clock=clock)
    assert result == Ok("done")
    assert calls == [0.0, 10.0, 20.0, 30.0]
    assert clock.monotonic() == 30.0


async def test_retry_call_reports_each_retry_before_it_starts() -> None:
    clock = TestClock()
    retries: list[tuple[int, float, object]] = []

    async def op() -> Ok[int] | Err[Flaky]:
        return Err(Flaky(1))

    policy = RetryPolicy(attempts=3, initial=1.0, jitter=False)
    result = await retry_call(
        op, policy, clock=clock, on_retry=lambda a, d, e: retries.append((a, d, e))
    )
    assert result == Err(Flaky(1))
    assert retries == [(2, 1.0, Flaky(1)), (3, 2.0, Flaky(1))]
    assert clock.monotonic() == 3.0


async def test_retry_call_accepts_an_async_on_retry() -> None:
    attempts: list[int] = []

    async def on_retry(attempt: int, delay: float, error: object) -> None:
        attempts.append(attempt)

    async def op() -> Ok[int] | Err[Flaky]:
        return Err(Flaky(0))

    await retry_call(op, 3, clock=TestClock(), on_retry=on_retry)
    assert attempts == [2, 3]


async def test_retry_call_returns_the_last_error_when_exhausted() -> None:
    count = 0

    async def op() -> Ok[int] | Err[Flaky]:
        nonlocal count
        count += 1
        return Err(Flaky(count))

    result = await retry_call(op, 3, clock=TestClock())
    assert result == Err(Flaky(3))
    assert count == 3


async def test_retry_call_turns_exceptions_into_unexpected_errors_and_retries_them() -> None:
    count = 0
    boom = RuntimeError("boom")

    async def op() -> Ok[int] | Err[Flaky]:
        nonlocal count
        count += 1
        if count < 3:
            raise boom
        return Ok(count)

    assert await retry_call(op, 3, clock=TestClock()) == Ok(3)

    async def always() -> Ok[int] | Err[Flaky]:
        raise boom

    result = await retry_call(always, 2, clock=TestClock(), name="fetch")
    assert isinstance(result, Err)
    error = result.error
    assert isinstance(error, UnexpectedError)
    assert error.exception_type == "RuntimeError"
    assert error.step == "fetch"
    assert error.cause is boom
    assert result.cause is boom


async def test_retry_call_stops_at_once_on_an_error_retry_on_rejects() -> None:
    count = 0

    async def op() -> Ok[int] | Err[Flaky | Fatal]:
        nonlocal count
        count += 1
        return Err(Fatal())

    policy = RetryPolicy(attempts=5, retry_on=lambda e: isinstance(e, Flaky))
    assert await retry_call(op, policy, clock=TestClock()) == Err(Fatal())
    assert count == 1


async def test_retry_call_does_not_retry_a_timeout_unless_asked() -> None:
    count = 0

    async def op() -> Ok[int] | Err[StepTimeout]:
        nonlocal count
        count += 1
        return Err(StepTimeout("op", 1.0))

    await retry_call(op, RetryPolicy(attempts=3), clock=TestClock())
    assert count == 1
    await retry_call(op, RetryPolicy(attempts=3, retry_on_timeout=True), clock=TestClock())
    assert count == 4


async def test_retry_call_stop_after_delay_uses_the_clock() -> None:
    clock = TestClock()
    starts: list[float] = []

    async def op() -> Ok[int] | Err[Flaky]:
        starts.append(clock.monotonic())
        return Err(Flaky(0))

    policy = RetryPolicy(wait=tenacity.wait_fixed(4), stop=tenacity.stop_after_delay(10))
    await retry_call(op, policy, clock=clock)
    assert starts == [0.0, 4.0, 8.0, 12.0]


async def test_retry_call_with_the_real_clock_and_no_wait() -> None:
    count = 0

    async def op() -> Ok[int] | Err[Flaky]:
        nonlocal count
        count += 1
        return Ok(count) if count == 2 else Err(Flaky(count))

    assert await retry_call(op, RetryPolicy(attempts=2, initial=0.0)) == Ok(2)


def test_retry_call_sync_advances_the_test_clock() -> None:
    clock = TestClock()
    retries: list[int] = []
    count = 0

    def op() -> Ok[str] | Err[Flaky]:
        nonlocal count
        count += 1
        if count == 1:
            raise ValueError("first")
        return Err(Flaky(count)) if count < 3 else Ok("ok")

    policy = RetryPolicy(attempts=3, backoff="linear", initial=5.0, jitter=False)
    result = retry_call_sync(op, policy, clock=clock, on_retry=lambda a, d, e: retries.append(a))
    assert result == Ok("ok")
    assert retries == [2, 3]
    assert clock.monotonic() == 15.0


# -- a guard's refusal (issue 10 item 2) ---------------------------------------------------
def test_the_default_policy_does_not_retry_a_guards_refusal() -> None:
    policy = RetryPolicy()
    assert not policy.should_retry(CircuitOpen(breaker="payments", retry_after=29.7))
    assert not policy.should_retry(RateLimited(limiter="api", retry_after=1.0))
    assert policy.should_retry(Flaky(1))
    # retry_on decides when given: a caller may choose to wait for the guard.
    assert RetryPolicy(retry_on=lambda error: True).should_retry(CircuitOpen("b", 1.0))


def test_a_retried_refusal_waits_at_least_its_retry_after() -> None:
    policy = RetryPolicy(attempts=3, initial=0.1, jitter=False, retry_on=lambda error: True)
    assert policy.next_delay(1, 0.0, RateLimited(limiter="api", retry_after=2.5)) == 2.5
    assert policy.next_delay(1, 0.0, RateLimited(limiter="api")) == 0.1  # no hint
    assert policy.next_delay(1, 0.0, Flaky(1)) == 0.1
    # Waiting less than retry_after is pointless, and longer than max_delay is not
    # allowed: the retries end.
    assert policy.next_delay(1, 0.0, CircuitOpen(breaker="b", retry_after=60.0)) is None


async def test_retry_call_ends_on_a_refusal_and_keeps_the_failure_under_it() -> None:
    answers = iter([Err(Flaky(1)), Err(CircuitOpen(breaker="payments", retry_after=29.7))])
    calls = 0

    async def op() -> Ok[str] | Err[Flaky | CircuitOpen]:
        nonlocal calls
        calls += 1
        return next(answers)

    clock = TestClock()
    result = await retry_call(op, RetryPolicy(attempts=5, jitter=False), clock=clock)
    assert calls == 2
    assert result == Err(CircuitOpen(breaker="payments", retry_after=29.7))
    assert isinstance(result, Err) and result.cause == Flaky(1)
    assert clock.monotonic() == pytest.approx(0.1)  # one backoff, no waiting on the breaker


def test_retry_call_sync_waits_for_a_retried_rate_limit() -> None:
    answers = iter([Err(RateLimited(limiter="api", retry_after=3.0)), Ok("in")])
    clock = TestClock()
    policy = RetryPolicy(attempts=2, jitter=False, retry_on=lambda error: True)
    assert retry_call_sync(lambda: next(answers), policy, clock=clock) == Ok("in")
    assert clock.monotonic() == pytest.approx(3.0)
