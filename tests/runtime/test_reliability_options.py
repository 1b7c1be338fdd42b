"""Step options from the reliability layer: retry, timeout, guards, policies, conditionals."""

from __future__ import annotations

import asyncio

import pytest

from resultflow import (
    SYSTEM_CLOCK,
    Err,
    Ok,
    Step,
    StepTimeout,
    Timeout,
    UnexpectedError,
    WorkflowTimeout,
    run,
)
from resultflow.events import WorkflowEvent
from resultflow.reliability._policies import Policy
from resultflow.reliability._retry import RetryPolicy
from resultflow.testing._clock import TestClock


class Flaky:
    def __init__(self, failures: int, error: object = "transient") -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    async def __call__(self) -> Ok[str] | Err[object]:
        self.calls += 1
        if self.calls <= self.failures:
            return Err(self.error)
        return Ok(f"ok after {self.calls}")


async def test_retry_int_means_attempts_and_sleeps_through_the_clock() -> None:
    clock = TestClock()
    flaky = Flaky(2)

    async def body(step: Step[object]) -> str:
        return await step(flaky, retry=3)

    assert await run(body, clock=clock) == Ok("ok after 3")
    assert flaky.calls == 3
    assert clock.monotonic() > 0  # the default backoff waited, virtually


async def test_retries_exhausted_returns_the_last_error() -> None:
    clock = TestClock()
    errors = iter(["e1", "e2", "e3"])
    events: list[WorkflowEvent] = []

    async def body(step: Step[str]) -> str:
        return await step(lambda: Err(next(errors)), retry=RetryPolicy(attempts=3, jitter=False))

    assert await run(body, clock=clock, on_event=lambda e, c: events.append(e)) == Err("e3")
    exhausted = [e for e in events if e.type == "step_retries_exhausted"]
    assert len(exhausted) == 1 and exhausted[0].attempts == 3  # type: ignore[union-attr]


async def test_thirty_seconds_of_backoff_runs_instantly() -> None:
    clock = TestClock()
    flaky = Flaky(3)
    policy = RetryPolicy(attempts=4, backoff="fixed", initial=10.0, jitter=False)

    async def body(step: Step[object]) -> str:
        return await step(flaky, retry=policy)

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await run(body, clock=clock) == Ok("ok after 4")
    assert clock.monotonic() == 30.0
    assert loop.time() - started < 1.0


async def test_retry_on_declines_some_errors() -> None:
    flaky = Flaky(5, error="fatal")

    async def body(step: Step[object]) -> str:
        return await step(flaky, retry=RetryPolicy(attempts=5, retry_on=lambda e: e != "fatal"))

    assert await run(body, clock=TestClock()) == Err("fatal")
    assert flaky.calls == 1


async def test_exceptions_are_retried_as_unexpected_errors() -> None:
    calls = 0

    async def shaky() -> Ok[str]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("reset")
        return Ok("connected")

    async def body(step: Step[str]) -> str:
        return await step(shaky, retry=3)

    assert await run(body, clock=TestClock()) == Ok("connected")


async def test_timeout_cancels_the_operation_for_real() -> None:
    clock = TestClock()
    cancelled = asyncio.Event()

    async def slow() -> Ok[str]:
        try:
            await clock.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Ok("late")

    events: list[WorkflowEvent] = []

    async def body(step: Step[StepTimeout]) -> str:
        return await step(slow, timeout=5, name="slow-call")

    result = await run(body, clock=clock, on_event=lambda e, c: events.append(e))
    assert result == Err(StepTimeout(name="slow-call", seconds=5.0))
    assert cancelled.is_set()
    assert clock.monotonic() == 5.0
    assert [e.seconds for e in events if e.type == "step_timeout"] == [5.0]  # type: ignore[union-attr]


async def test_timeout_with_the_real_clock_cancels_too() -> None:
    cancelled = asyncio.Event()

    async def hang() -> Ok[str]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Ok("never")

    async def body(step: Step[StepTimeout]) -> str:
        return await step.timeout(hang, 0.01, name="hang")

    result = await run(body)
    assert result == Err(StepTimeout(name="hang", seconds=0.01))
    assert cancelled.is_set()


async def test_timeout_per_attempt_with_retry_on_timeout() -> None:
    clock = TestClock()
    calls = 0

    async def sometimes_slow() -> Ok[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            await clock.sleep(100)
        return Ok(f"attempt {calls}")

    policy = RetryPolicy(
        attempts=2, retry_on_timeout=True, backoff="fixed", initial=1.0, jitter=False
    )

    async def body(step: Step[StepTimeout]) -> str:
        return await step(sometimes_slow, timeout=2, retry=policy)

    assert await run(body, clock=clock) == Ok("attempt 2")
    assert clock.monotonic() == 3.0


async def test_timeouts_are_not_retried_by_default() -> None:
    clock = TestClock()
    calls = 0

    async def slow() -> Ok[str]:
        nonlocal calls
        calls += 1
        await clock.sleep(100)
        return Ok("late")

    async def body(step: Step[StepTimeout]) -> str:
        return await step(slow, timeout=1, retry=3)

    assert await run(body, clock=clock) == Err(StepTimeout(name="s1", seconds=1.0))
    assert calls == 1


async def test_whole_step_timeout_bounds_waits_between_attempts() -> None:
    clock = TestClock()
    flaky = Flaky(10)
    policy = RetryPolicy(attempts=10, backoff="fixed", initial=3.0, jitter=False)

    async def body(step: Step[object]) -> str:
        return await step(flaky, retry=policy, timeout=Timeout(7, per_attempt=False), name="f")

    assert await run(body, clock=clock) == Err(StepTimeout(name="f", seconds=7.0))
    assert flaky.calls == 3  # attempts at t=0, 3, 6; the wait to t=9 is cut at 7


async def test_whole_run_timeout() -> None:
    clock = TestClock()

    async def body(step: Step[str]) -> str:
        await step.sleep(60)
        return "done"

    assert await run(body, clock=clock, timeout=10) == Err(WorkflowTimeout(seconds=10))


@pytest.mark.parametrize("virtual", [True, False], ids=["test-clock", "system-clock"])
async def test_whole_run_timeout_cancels_running_scopes_and_leaves_no_task(virtual: bool) -> None:
    cancelled: list[int] = []
    events: list[str] = []
    before = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    async def forever(n: int) -> Ok[int]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(n)
            raise
        return Ok(n)

    async def body(step: Step[str]) -> object:
        return await step.all(lambda: forever(1), lambda: forever(2))

    clock = TestClock() if virtual else SYSTEM_CLOCK
    result = await run(body, timeout=0.02, clock=clock, on_event=lambda e, c: events.append(e.type))
    assert result == Err(WorkflowTimeout(seconds=0.02))
    assert sorted(cancelled) == [1, 2]
    assert events.count("step_aborted") == 2 and events[-1] == "workflow_error"
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == before


async def test_cancelling_a_timed_run_twice_leaves_no_task_running() -> None:
    started = asyncio.Event()
    cleaned_up: list[bool] = []
    before = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    async def body(step: Step[str]) -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            for _ in range(5):  # a slow cleanup that outlives the first cancellation
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:
                    pass
            cleaned_up.append(True)
        return "never"

    task = asyncio.ensure_future(run(body, clock=TestClock(), timeout=100))
    await started.wait()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert task.cancelled()
    assert cleaned_up == [True]
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == before


class CountingGuard:
    """A guard that admits `capacity` calls then refuses them."""

    def __init__(self, name: str, capacity: int, log: list[str]) -> None:
        self._name = name
        self.capacity = capacity
        self.log = log

    @property
    def name(self) -> str:
        return self._name

    async def call_result(self, fn):  # type: ignore[no-untyped-def]
        self.log.append(f"enter {self._name}")
        if self.capacity <= 0:
            return Err(f"{self._name} refused")
        self.capacity -= 1
        result = await fn()
        self.log.append(f"exit {self._name}")
        return result


async def test_guards_wrap_each_attempt_limiter_outside_breaker() -> None:
    log: list[str] = []
    breaker = CountingGuard("breaker", 5, log)
    limiter = CountingGuard("limiter", 5, log)

    async def body(step: Step[str]) -> str:
        return await step(lambda: Ok("x"), breaker=breaker, limiter=limiter)

    assert await run(body) == Ok("x")
    assert log == ["enter limiter", "enter breaker", "exit breaker", "exit limiter"]

    refusing = CountingGuard("breaker", 0, [])

    async def refused(step: Step[str]) -> str:
        return await step(lambda: Ok("x"), breaker=refusing)

    assert await run(refused) == Err("breaker refused")


async def test_real_breaker_and_limiter_work_as_step_options() -> None:
    from resultflow.errors import CircuitOpen
    from resultflow.reliability._breaker import CircuitBreaker

    clock = TestClock()
    breaker = CircuitBreaker("payments", failure_threshold=2, reset_timeout=30, clock=clock)

    async def body(step: Step[object]) -> str:
        return await step(lambda: Err("declined"), breaker=breaker)

    assert await run(body, clock=clock) == Err("declined")
    assert await run(body, clock=clock) == Err("declined")
    third = await run(body, clock=clock)
    assert isinstance(third, Err) and isinstance(third.error, CircuitOpen)
    assert third.error.breaker == "payments"


async def test_policy_and_run_defaults() -> None:
    clock = TestClock()
    flaky = Flaky(2)
    retry_twice = Policy(retry=RetryPolicy(attempts=3, jitter=False), key_prefix="svc:")
    keys: list[str] = []

    async def body(step: Step[object]) -> str:
        return await step(flaky, key="call")

    result = await run(
        body,
        clock=clock,
        policies=[retry_twice],
        on_after_step=lambda key, r, w, c: keys.append(key),
    )
    assert result == Ok("ok after 3")
    assert keys == ["svc:call"]

    no_retry = Flaky(1)

    async def override(step: Step[object]) -> str:
        return await step(no_retry, policy=Policy(retry=RetryPolicy(attempts=1)))

    assert await run(override, clock=clock, policies=[retry_twice]) == Err("transient")


async def test_run_default_policies_apply_to_the_steps_of_scopes() -> None:
    import gc
    import warnings

    clock = TestClock()
    flaky = Flaky(2)
    retry = Policy(retry=RetryPolicy(attempts=3, jitter=False))
    events: list[str] = []

    async def body(step: Step[object]) -> tuple[str, int]:
        return await step.all(flaky, lambda: Ok(1), name="pair")

    result = await run(
        body, clock=clock, policies=[retry], on_event=lambda e, c: events.append(e.type)
    )
    assert result == Ok(("ok after 3", 1))
    assert flaky.calls == 3 and events.count("step_retry") == 2

    async def fetch() -> Ok[int]:
        return Ok(2)

    async def one_shot(step: Step[object]) -> tuple[int, int]:
        return await step.all(fetch(), lambda: Ok(1))

    # A bare coroutine cannot take the run-wide retries: it runs once (issue 10 item 1),
    # and nothing is left unawaited.
    events.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        once = await run(one_shot, policies=[retry], on_event=lambda e, c: events.append(e.type))
        gc.collect()
    assert once == Ok((2, 1))
    assert "scope_start" in events and "step_retry" not in events


async def test_step_retry_shorthand() -> None:
    flaky = Flaky(1)

    async def body(step: Step[object]) -> str:
        return await step.retry(flaky, attempts=2, backoff="fixed", initial=0.5)

    assert await run(body, clock=TestClock()) == Ok("ok after 2")


async def test_step_when_and_unless_emit_skips_with_run_ids() -> None:
    events: list[WorkflowEvent] = []

    async def body(step: Step[str]) -> tuple[object, object, object, object]:
        a = await step.when(False, lambda: Ok("a"), name="a", reason="disabled")
        b = await step.when(lambda: True, lambda: Ok("b"))
        c = await step.unless_or(True, lambda: Ok("c"), "default-c")
        d = await step.when_or(True, lambda: asyncio.sleep(0, result=Ok("d")), "never")
        return a, b, c, d

    result = await run(
        body, workflow_id="w1", context="ctx", on_event=lambda e, c: events.append(e)
    )
    assert result == Ok((None, "b", "default-c", "d"))
    skipped = [e for e in events if e.type == "step_skipped"]
    assert len(skipped) == 2
    assert all(e.workflow_id == "w1" and e.context == "ctx" for e in skipped)
    assert skipped[0].name == "a" and skipped[0].reason == "disabled"  # type: ignore[union-attr]


async def test_unexpected_error_from_a_guard_is_reported() -> None:
    class Broken:
        name = "broken"

        async def call_result(self, fn):  # type: ignore[no-untyped-def]
            raise RuntimeError("guard bug")

    async def body(step: Step[str]) -> str:
        return await step(lambda: Ok("x"), breaker=Broken())  # type: ignore[arg-type]

    result = await run(body)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.message == "guard bug"


# -- a policy's retries and a bare coroutine (issue 10 item 1) --------------------------
async def test_a_run_wide_retrying_policy_runs_a_bare_coroutine_once_and_says_so() -> None:
    from resultflow.reliability import retry_policies

    calls: list[str] = []

    async def get_user(uid: str) -> Ok[str] | Err[str]:
        calls.append(uid)
        return Ok(f"user {uid}")

    async def down() -> Ok[str] | Err[str]:
        calls.append("down")
        return Err("down")

    events: list[WorkflowEvent] = []

    async def body(step: Step[str]) -> str:
        user = await step(get_user("u1"), name="user")
        return user + await step(down(), name="down")

    result = await run(
        body,
        policies=[retry_policies.standard],
        clock=TestClock(),
        on_event=lambda e, c: events.append(e),
    )
    assert result == Err("down")
    assert calls == ["u1", "down"]  # each coroutine awaited once, no retry of "down"
    started = [e for e in events if e.type == "step_start"]
    assert [e.note for e in started] == [  # type: ignore[union-attr]
        "runs once: a policy's retries need a callable, and a coroutine object can be "
        "awaited only once"
    ] * 2
    assert not [e for e in events if e.type in ("step_retry", "step_retries_exhausted")]


async def test_a_step_policy_runs_a_bare_coroutine_once_but_retries_a_callable() -> None:
    from resultflow.reliability import service_policies

    flaky = Flaky(1)
    # One clock for both runs: two TestClocks whose auto-jumps are pending on one loop
    # keep each other busy (each sees the other's callback in the ready queue).
    clock = TestClock()

    async def body(step: Step[object]) -> str:
        once = await step(flaky(), policy=service_policies.http_api, name="once")
        return str(once)

    assert await run(body, clock=clock) == Err("transient")
    assert flaky.calls == 1

    retried = Flaky(1)

    async def callable_body(step: Step[object]) -> str:
        return await step(retried, policy=service_policies.http_api, name="retried")

    assert await run(callable_body, clock=clock) == Ok("ok after 2")
    assert retried.calls == 2


async def test_step_all_runs_bare_coroutines_once_under_a_run_wide_retry_policy() -> None:
    from resultflow.reliability import retry_policies

    async def value(n: int) -> Ok[int] | Err[str]:
        return Ok(n)

    async def body(step: Step[str]) -> tuple[int, int]:
        return await step.all(value(1), value(2))

    assert await run(body, policies=[retry_policies.standard]) == Ok((1, 2))


async def test_a_step_stops_retrying_when_its_breaker_opens_and_shows_the_failure() -> None:
    from resultflow.errors import CircuitOpen
    from resultflow.reliability import CircuitBreaker

    clock = TestClock()
    breaker = CircuitBreaker("payments", failure_threshold=1, reset_timeout=30.0, clock=clock)
    calls = 0

    async def charge() -> Ok[str] | Err[str]:
        nonlocal calls
        calls += 1
        return Err("gateway down")

    events: list[WorkflowEvent] = []

    async def body(step: Step[str]) -> str:
        return await step(charge, retry=RetryPolicy(attempts=5, jitter=False), breaker=breaker)

    result = await run(body, clock=clock, on_event=lambda e, c: events.append(e))
    assert calls == 1  # the breaker opened after the first failure
    assert isinstance(result, Err) and isinstance(result.error, CircuitOpen)
    assert result.cause == "gateway down"  # what failed underneath
    assert [e.type for e in events].count("step_retry") == 1
    assert "step_retries_exhausted" not in [e.type for e in events]
