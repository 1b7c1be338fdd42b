"""Retries: `RetryPolicy` (how often and how long to wait) and `retry_call`.

A `RetryPolicy` is an immutable description of a retry schedule. Its waits and stop
rule are tenacity's own objects (`wait_fixed`, `wait_incrementing`, `wait_exponential`,
`stop_after_attempt`, or any tenacity `wait` / `stop` you pass in), evaluated on a
tenacity `RetryCallState`, so a tenacity user's strategies behave here exactly as
they do in tenacity.

A policy answers two questions, asked after an attempt fails: `should_retry(error)`
(is this error worth another try?) and `next_delay(attempt, elapsed, error)` (how long
to wait, or None to give up). `retry_loop` asks them: it is the one retry loop, written
as decisions (try an attempt, wait and try again, give up) that a driver carries out.
A step's `retry=` (async and sync runs alike), `retry_call` and `retry_call_sync` all
drive it, so they cannot disagree.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Literal, TypeAlias, TypeVar, cast

import tenacity
from tenacity.wait import wait_base

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import CircuitOpen, RateLimited, StepTimeout, UnexpectedError
from resultflow.result import Err, Ok

__all__ = [
    "Backoff",
    "GiveUp",
    "OnRetry",
    "RetryDecision",
    "RetryPolicy",
    "StopStrategy",
    "TryAgain",
    "TryAttempt",
    "WaitStrategy",
    "is_refusal",
    "retry_call",
    "retry_call_sync",
    "retry_loop",
]

T = TypeVar("T")
E = TypeVar("E")

Backoff: TypeAlias = Literal["exponential", "linear", "fixed"]
"""How the delay grows between attempts."""

WaitStrategy: TypeAlias = Callable[[tenacity.RetryCallState], float]
"""A tenacity wait: any `wait_*` object, or a callable of the retry state."""

StopStrategy: TypeAlias = Callable[[tenacity.RetryCallState], bool]
"""A tenacity stop rule: any `stop_*` object, or a callable of the retry state."""

OnRetry: TypeAlias = Callable[[int, float, object], object]
"""`on_retry(attempt, delay, error)`: called before each new attempt (may be async).

`attempt` is the number of the attempt about to start (2 for the first retry),
`delay` the wait before it in seconds, `error` the error that caused it.
"""

_BACKOFFS: tuple[Backoff, ...] = ("exponential", "linear", "fixed")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to try an operation and how long to wait between tries.

    `attempts` counts every try, the first included: `RetryPolicy(attempts=3)` tries at
    most three times. The delay before attempt n+1 (n = attempts made so far) is

    - `"fixed"`: `initial`
    - `"linear"`: `initial * n`
    - `"exponential"`: `initial * multiplier ** (n - 1)`

    always capped at `max_delay`. `jitter=True` draws the delay uniformly in
    `[0, delay]`; a float `j` in `[0, 1]` draws it in `[delay * (1 - j), delay]`; jitter
    never pushes a delay past `max_delay`. All times are in seconds.

    `retry_on(error)` decides which errors are retried (default: every error but a
    guard's refusal, `CircuitOpen` / `RateLimited`; a raised exception arrives as an
    `UnexpectedError`). A `StepTimeout` is retried only when `retry_on_timeout` is True.

    Tenacity users may pass their own strategies: `wait=` (a tenacity wait, used as it
    is, replacing `backoff`, `initial`, `multiplier`, `max_delay` and `jitter`) and
    `stop=` (a tenacity stop rule, replacing `attempts`), for example
    `RetryPolicy(wait=wait_fixed(2), stop=stop_after_delay(30))`.

    Args:
        attempts: Tries in all, the first included (>= 1).
        backoff: How the delay grows: `"exponential"`, `"linear"` or `"fixed"`.
        initial: The first delay, in seconds.
        max_delay: The cap on every delay, jitter included, in seconds.
        multiplier: The growth factor of exponential backoff (>= 1).
        jitter: True for a uniform draw in `[0, delay]`, a fraction `j` for
            `[delay * (1 - j), delay]`, False for exact delays.
        retry_on: `retry_on(error) -> bool` picks the errors worth another try;
            None retries every error except a guard's refusal.
        retry_on_timeout: Whether a `StepTimeout` is retried.
        wait: A tenacity wait replacing the built-in backoff.
        stop: A tenacity stop rule replacing `attempts`.
    """

    attempts: int = 3
    backoff: Backoff = "exponential"
    initial: float = 0.1
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: bool | float = True
    retry_on: Callable[[object], bool] | None = None
    retry_on_timeout: bool = False
    wait: WaitStrategy | None = None
    stop: StopStrategy | None = None
    # The tenacity objects actually evaluated, built once from the fields above.
    _wait: WaitStrategy = field(init=False, repr=False, compare=False)
    _stop: StopStrategy = field(init=False, repr=False, compare=False)
    _retrying: tenacity.Retrying = field(init=False, repr=False, compare=False)
    _custom: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate()
        wait = self.wait if self.wait is not None else self._build_wait()
        stop = self.stop if self.stop is not None else tenacity.stop_after_attempt(self.attempts)
        object.__setattr__(self, "_wait", wait)
        object.__setattr__(self, "_stop", stop)
        object.__setattr__(self, "_retrying", tenacity.Retrying(wait=wait, stop=stop))
        # Only user strategies may look at the outcome; the built-in ones read the
        # attempt number alone, so the (comparatively costly) Future is skipped for them.
        object.__setattr__(self, "_custom", self.wait is not None or self.stop is not None)

    # -- the runner's interface -------------------------------------------------------
    def should_retry(self, error: object) -> bool:
        """Return True when `error` is worth another attempt.

        A `StepTimeout` is retried only with `retry_on_timeout=True`; any other error is
        retried when `retry_on(error)` says so, or always when `retry_on` is None.
        """
        if isinstance(error, StepTimeout):
            return self.retry_on_timeout
        if self.retry_on is None:
            # A guard's refusal is an answer, not a glitch: the breaker or limiter says
            # when to come back (`retry_after`, often far beyond a backoff), and
            # hammering it only delays the caller. Opt in with `retry_on`.
            return not is_refusal(error)
        return bool(self.retry_on(error))

    def next_delay(self, attempt: int, elapsed: float, error: object = None) -> float | None:
        """Return the wait in seconds before attempt `attempt + 1`, or None to give up.

        `attempt` is the number of attempts made so far (1 after the first failure);
        `elapsed` the seconds since the first attempt started; `error` the error of the
        last attempt (given to tenacity strategies as the attempt's outcome). None means
        the stop rule says stop: `attempt >= attempts`, or the `stop=` object is true.

        A guard's refusal (`CircuitOpen`, `RateLimited`) that is retried at all (only
        when `retry_on` asks for it) waits at least its `retry_after`; one that asks for
        more than `max_delay` ends the retries.
        """
        if attempt < 1:
            raise ValueError(f"attempt counts attempts made so far (>= 1), got {attempt!r}")
        state = self._call_state(attempt, elapsed, error)
        # Tenacity's own order: compute the wait first, then ask the stop rule, so that
        # `stop_before_delay` can see the upcoming sleep.
        delay = max(0.0, float(self._wait(state)))
        hint = _retry_after(error)
        if hint is not None:
            # A retried refusal waits until the guard may admit the call; when that is
            # beyond `max_delay` the retries end rather than knock on a closed door.
            if hint > self.max_delay:
                return None
            delay = max(delay, hint)
        state.upcoming_sleep = delay
        if self._stop(state):
            return None
        return delay

    @classmethod
    def coerce(cls, value: int | RetryPolicy) -> RetryPolicy:
        """Accept a number of attempts or a `RetryPolicy`: `step(retry=3)` means 3 attempts."""
        if isinstance(value, RetryPolicy):
            return value
        return cls(attempts=_attempt_count("retry", value))

    # -- construction -----------------------------------------------------------------
    def _validate(self) -> None:
        attempts = _attempt_count("attempts", self.attempts)
        if attempts < 1:
            raise ValueError(f"attempts counts every try and must be >= 1, got {attempts}")
        if self.backoff not in _BACKOFFS:
            raise ValueError(f"backoff must be one of {_BACKOFFS}, got {self.backoff!r}")
        _check_seconds("initial", self.initial, allow_infinite=False)
        _check_seconds("max_delay", self.max_delay, allow_infinite=True)
        multiplier = _number("multiplier", self.multiplier)
        if not (math.isfinite(multiplier) and multiplier >= 1):
            raise ValueError(f"multiplier must be a finite number >= 1, got {multiplier!r}")
        jitter: object = self.jitter
        if not isinstance(jitter, bool) and not 0 <= _number("jitter", jitter) <= 1:
            raise ValueError(f"jitter must be True, False or a fraction in [0, 1], got {jitter!r}")
        callables: tuple[tuple[str, object], ...] = (
            ("retry_on", self.retry_on),
            ("wait", self.wait),
            ("stop", self.stop),
        )
        for name, value in callables:
            if value is not None and not callable(value):
                raise TypeError(f"{name} must be callable, got {value!r}")

    def _build_wait(self) -> WaitStrategy:
        base: WaitStrategy
        if self.backoff == "fixed":
            base = tenacity.wait_fixed(self.initial)
        elif self.backoff == "linear":
            base = tenacity.wait_incrementing(
                start=self.initial, increment=self.initial, max=self.max_delay
            )
        else:
            base = tenacity.wait_exponential(
                multiplier=self.initial, exp_base=self.multiplier, max=self.max_delay
            )
        fraction = 1.0 if self.jitter is True else float(self.jitter)
        return _CappedJitterWait(base, cap=self.max_delay, fraction=fraction)

    def _call_state(self, attempt: int, elapsed: float, error: object) -> tenacity.RetryCallState:
        state = tenacity.RetryCallState(self._retrying, fn=None, args=(), kwargs={})
        state.start_time = 0.0
        state.attempt_number = attempt
        if self._custom:
            state.outcome = _outcome(attempt, error)
        state.outcome_timestamp = max(0.0, elapsed)
        return state


def is_refusal(error: object) -> bool:
    """True for a guard's refusal: the call was not made (`CircuitOpen`, `RateLimited`)."""
    return isinstance(error, CircuitOpen | RateLimited)


def _retry_after(error: object) -> float | None:
    """The seconds a refusing guard asked to wait, if `error` is a refusal that says."""
    if not is_refusal(error):
        return None
    hint: object = getattr(error, "retry_after", None)
    return float(hint) if isinstance(hint, int | float) and hint > 0 else None


def _attempt_count(name: str, value: object) -> int:
    """`value` as a number of attempts, or a TypeError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} takes a number of attempts (an int), got {value!r}")
    return value


def _number(name: str, value: object) -> float:
    """`value` as a float, or a TypeError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    return float(value)


def _check_seconds(name: str, value: object, *, allow_infinite: bool) -> None:
    """Reject a delay that is negative, NaN or (unless allowed) infinite."""
    seconds = _number(name, value)
    if not seconds >= 0:  # also rejects NaN
        raise ValueError(f"{name} is a delay in seconds and must be >= 0, got {value!r}")
    if not allow_infinite and math.isinf(seconds):
        raise ValueError(f"{name} must be finite, got {value!r}")


class _CappedJitterWait(wait_base):
    """A tenacity wait: the base wait capped at `cap`, then jittered down by `fraction`.

    The draw is uniform in `[delay * (1 - fraction), delay]`, so jitter only ever
    shortens a delay and the cap holds with jitter included.
    """

    def __init__(self, base: WaitStrategy, *, cap: float, fraction: float) -> None:
        self.base = base
        self.cap = cap
        self.fraction = fraction

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        delay = min(float(self.base(retry_state)), self.cap)
        if self.fraction > 0 and delay > 0:
            delay = random.uniform(delay * (1.0 - self.fraction), delay)
        return delay


def _outcome(attempt: int, error: object) -> tenacity.Future:
    """The failed attempt as a tenacity `Future`.

    An exception (or an `UnexpectedError` wrapping one) becomes the future's
    exception, so `wait_exception` and `retry_if_exception_type`-style code sees it;
    any other error value becomes the future's result.
    """
    exception: object = error
    if isinstance(error, UnexpectedError):
        exception = error.cause
    if isinstance(exception, BaseException):
        return tenacity.Future.construct(attempt, exception, True)
    return tenacity.Future.construct(attempt, error, False)


# -- the retry loop ----------------------------------------------------------------------
class TryAttempt:
    """Decision of the retry loop: run attempt number `number`; send back its Result."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number


class TryAgain:
    """Decision: the last attempt failed with `error`; wait `delay` s, then attempt `attempt`.

    The driver announces it (a `step_retry` event, an `on_retry` callback) and sleeps
    through its clock; it sends nothing back.
    """

    __slots__ = ("attempt", "delay", "error")

    def __init__(self, attempt: int, delay: float, error: object) -> None:
        self.attempt = attempt
        self.delay = delay
        self.error = error


class GiveUp:
    """Decision: the stop rule ended the retries after `attempts` tries failing with `error`.

    Only when the policy ran out; an error the policy does not retry ends the loop
    without it. The driver may announce it (`step_retries_exhausted`).
    """

    __slots__ = ("attempts", "error")

    def __init__(self, attempts: int, error: object) -> None:
        self.attempts = attempts
        self.error = error


RetryDecision: TypeAlias = TryAttempt | TryAgain | GiveUp
"""What `retry_loop` asks its driver to do next."""


def retry_loop(
    policy: RetryPolicy, clock: Clock
) -> Generator[RetryDecision, Ok[object] | Err[object] | None, Ok[object] | Err[object]]:
    """The one retry loop, as decisions: steps, `retry_call` and `retry_call_sync` drive it.

    It yields a `TryAttempt` and expects the attempt's Result sent back; after a failed
    attempt it asks the policy and yields `TryAgain` (wait, then try again) or
    `GiveUp`, and finally returns the Result to keep. Running an attempt, announcing a
    retry and sleeping are the driver's: the async and sync drivers differ only there.

    A guard's refusal that ends the loop after an earlier attempt failed keeps that
    earlier error as the Err's `cause`, so the final error still shows what failed.
    """
    started = clock.monotonic()
    attempt = 0
    previous: object = None  # the error of the attempt before, for a refusal's cause
    while True:
        attempt += 1
        result = yield TryAttempt(attempt)
        assert result is not None, "the driver sends back the attempt's Result"
        if type(result) is Ok:
            return result
        error = result.error
        if not policy.should_retry(error):
            return _with_underlying(result, previous)
        delay = policy.next_delay(attempt, clock.monotonic() - started, error)
        if delay is None:
            yield GiveUp(attempt, error)
            return _with_underlying(result, previous)
        previous = error
        yield TryAgain(attempt + 1, delay, error)


def _with_underlying(result: Err[object], previous: object) -> Err[object]:
    """A refusal that ends the retries keeps the failure before it as its `cause`.

    When a breaker opens during a step's retries, the step's error is the breaker's
    `CircuitOpen`; what actually failed (the error that tripped it) stays reachable
    as `result.cause`.
    """
    if previous is None or result.cause is not None or not is_refusal(result.error):
        return result
    return Err(result.error, previous)


# -- standalone retries ------------------------------------------------------------------
async def retry_call(
    fn: Callable[[], Awaitable[Ok[T] | Err[E]]],
    policy: int | RetryPolicy,
    *,
    clock: Clock | None = None,
    on_retry: OnRetry | None = None,
    name: str | None = None,
) -> Ok[T] | Err[E | UnexpectedError]:
    """Call `fn` until it returns Ok or `policy` gives up; return the last result.

    An exception `fn` raises becomes `Err(UnexpectedError)` (with `step=name`) and is
    retried like any Err unless `policy.retry_on` says no. It drives the same retry
    loop as a step's `retry=` (`retry_loop`), so the two decide alike.

    Args:
        fn: A zero-argument callable returning an awaitable Result; called once per
            attempt.
        policy: A `RetryPolicy`, or an int meaning that many attempts with the default
            backoff.
        clock: The clock waits go through (real time by default; a `TestClock` makes
            them instant).
        on_retry: `on_retry(attempt, delay, error)`, called before each wait (sync or
            async); `attempt` is the number of the attempt about to start.
        name: The label given to an `UnexpectedError` made from a raised exception.

    Returns:
        The first Ok, or the Err of the last attempt.
    """
    loop = retry_loop(RetryPolicy.coerce(policy), SYSTEM_CLOCK if clock is None else clock)
    answer: Ok[object] | Err[object] | None = None
    while True:
        try:
            decision = loop.send(answer)
        except StopIteration as stop:
            return cast("Ok[T] | Err[E | UnexpectedError]", stop.value)
        answer = None
        if isinstance(decision, TryAttempt):
            answer = await _attempt_async(fn, name)
        elif isinstance(decision, TryAgain):
            if on_retry is not None:
                outcome = on_retry(decision.attempt, decision.delay, decision.error)
                if inspect.isawaitable(outcome):
                    await outcome
            await (SYSTEM_CLOCK if clock is None else clock).sleep(decision.delay)


def retry_call_sync(
    fn: Callable[[], Ok[T] | Err[E]],
    policy: int | RetryPolicy,
    *,
    clock: Clock | None = None,
    on_retry: Callable[[int, float, object], None] | None = None,
    name: str | None = None,
) -> Ok[T] | Err[E | UnexpectedError]:
    """The blocking twin of `retry_call`: `fn` returns a Result, waits block the thread.

    Args:
        fn: A zero-argument callable returning a Result; called once per attempt.
        policy: A `RetryPolicy`, or an int meaning that many attempts.
        clock: The clock waits go through (`clock.sleep_sync`).
        on_retry: `on_retry(attempt, delay, error)`, called before each wait.
        name: The label given to an `UnexpectedError` made from a raised exception.

    Returns:
        The first Ok, or the Err of the last attempt.
    """
    clock = SYSTEM_CLOCK if clock is None else clock
    loop = retry_loop(RetryPolicy.coerce(policy), clock)
    answer: Ok[object] | Err[object] | None = None
    while True:
        try:
            decision = loop.send(answer)
        except StopIteration as stop:
            return cast("Ok[T] | Err[E | UnexpectedError]", stop.value)
        answer = None
        if isinstance(decision, TryAttempt):
            answer = _attempt_sync(fn, name)
        elif isinstance(decision, TryAgain):
            if on_retry is not None:
                on_retry(decision.attempt, decision.delay, decision.error)
            clock.sleep_sync(decision.delay)


async def _attempt_async(
    fn: Callable[[], Awaitable[Ok[T] | Err[E]]], name: str | None
) -> Ok[object] | Err[object]:
    try:
        return await fn()
    except Exception as exc:
        return Err(UnexpectedError.from_exception(exc, step=name), cause=exc)


def _attempt_sync(fn: Callable[[], Ok[T] | Err[E]], name: str | None) -> Ok[object] | Err[object]:
    try:
        return fn()
    except Exception as exc:
        return Err(UnexpectedError.from_exception(exc, step=name), cause=exc)
