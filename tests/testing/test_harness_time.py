"""WorkflowHarness on virtual time: retries, timeouts, sleeps, breakers and delayed outcomes."""

from __future__ import annotations

import asyncio
import time

import pytest

from resultflow import Err, Ok, Step
from resultflow.errors import CircuitOpen, StepTimeout, TaggedError, WorkflowTimeout
from resultflow.events import StepRetrying
from resultflow.reliability._breaker import CircuitBreaker
from resultflow.reliability._policies import Policy
from resultflow.reliability._retry import RetryPolicy
from resultflow.result import Result
from resultflow.testing import (
    AsyncMockFn,
    TestClock,
    WorkflowHarness,
    delay_outcome,
    err_outcome,
    ok_outcome,
)


class Unavailable(TaggedError):
    service: str


THIRTY_SECONDS = RetryPolicy(attempts=3, backoff="fixed", initial=30.0, jitter=False)


async def test_thirty_second_backoff_takes_no_real_time() -> None:
    fetch = AsyncMockFn[Result[str, Unavailable]](name="fetch").returns(Ok("data"))
    fetch.returns_once(Err(Unavailable(service="api")))
    fetch.returns_once(Err(Unavailable(service="api")))

    async def body(step: Step[Unavailable]) -> str:
        return await step(lambda: fetch("/users"), name="fetch", retry=THIRTY_SECONDS)

    harness = WorkflowHarness()
    started = time.perf_counter()
    result = await harness.run(body)
    real_elapsed = time.perf_counter() - started

    assert result == Ok("data")
    assert real_elapsed < 0.2
    assert harness.clock.monotonic() == 60.0  # two waits of 30 s, in virtual time
    assert fetch.call_count() == 3
    (inv,) = harness.invocations()
    assert inv.duration_s == 60.0  # the step's virtual duration includes its backoff
    assert not inv.scripted
    retries = [e for e in harness.events() if isinstance(e, StepRetrying)]
    assert [(e.attempt, e.delay_s) for e in retries] == [(2, 30.0), (3, 30.0)]


async def test_retries_exhausted_under_the_harness() -> None:
    fetch = AsyncMockFn[Result[str, Unavailable]](name="fetch")
    fetch.returns(Err(Unavailable(service="api")))

    async def body(step: Step[Unavailable]) -> str:
        return await step(lambda: fetch(), name="fetch", retry=THIRTY_SECONDS)

    harness = WorkflowHarness()
    assert await harness.run(body) == Err(Unavailable(service="api"))
    assert fetch.call_count() == 3
    assert harness.clock.monotonic() == 60.0
    assert "step_retries_exhausted" in [e.type for e in harness.events()]


async def test_a_scripted_outcome_stands_in_for_the_whole_step_including_retries() -> None:
    fetch = AsyncMockFn[Result[str, Unavailable]](name="fetch").returns(Ok("real"))

    async def body(step: Step[Unavailable]) -> str:
        return await step(lambda: fetch(), name="fetch", retry=THIRTY_SECONDS)

    harness = WorkflowHarness().script([err_outcome(Unavailable(service="scripted"))])
    assert await harness.run(body) == Err(Unavailable(service="scripted"))
    assert fetch.call_count() == 0
    assert harness.clock.monotonic() == 0.0  # no retry, no backoff
    assert "step_retry" not in [e.type for e in harness.events()]


async def test_step_timeout_fires_on_the_virtual_clock() -> None:
    clock = TestClock()

    async def slow() -> Ok[str]:
        await clock.sleep(10)
        return Ok("late")

    async def body(step: Step[StepTimeout]) -> str:
        return await step(slow, name="slow", timeout=5)

    harness = WorkflowHarness(clock)
    started = time.perf_counter()
    result = await harness.run(body)

    assert result == Err(StepTimeout(name="slow", seconds=5))
    assert time.perf_counter() - started < 0.2
    assert clock.monotonic() == 5.0  # the 5 s deadline woke before the 10 s sleeper
    assert "step_timeout" in [e.type for e in harness.events()]


async def test_step_sleep_of_an_hour_is_instant() -> None:
    async def body(step: Step[str]) -> float:
        before = step.context.clock.now()
        await step.sleep(3600)
        return step.context.clock.now() - before

    harness = WorkflowHarness()
    started = time.perf_counter()
    assert await harness.run(body) == Ok(3600.0)
    assert time.perf_counter() - started < 0.2
    assert harness.invocations("sleep")[0].duration_s == 3600.0


async def test_delay_outcome_moves_the_clock_and_counts_in_the_duration() -> None:
    async def body(step: Step[str]) -> str:
        return await step(lambda: Ok("real"), name="charge")

    harness = WorkflowHarness()
    harness.script_step("charge", delay_outcome(5.0, ok_outcome("paid")))

    assert await harness.run(body) == Ok("paid")
    assert harness.clock.monotonic() == 5.0
    (inv,) = harness.invocations()
    assert inv.scripted
    assert inv.duration_s == 5.0


async def test_delay_outcome_counts_toward_a_run_timeout() -> None:
    async def charge() -> Ok[str]:
        return Ok("real")

    async def body(step: Step[str]) -> str:
        # A bare coroutine op: cancelled while the scripted delay waits, it is closed.
        return await step(charge(), name="charge")

    harness = WorkflowHarness()
    harness.script_step("charge", delay_outcome(10.0, Ok("paid")))

    assert await harness.run(body, timeout=3.0) == Err(WorkflowTimeout(seconds=3.0))
    assert harness.clock.monotonic() == 3.0
    (inv,) = harness.invocations()
    assert inv.result is None  # cancelled before its outcome was played


def test_delay_outcome_validates_seconds() -> None:
    with pytest.raises(ValueError, match="delay_s must be a finite number >= 0"):
        delay_outcome(-1.0, ok_outcome(1))
    with pytest.raises(ValueError, match="finite"):
        delay_outcome(float("nan"), ok_outcome(1))
    assert delay_outcome(1.5, delay_outcome(2.0, ok_outcome(1))).delay_s == 3.5


async def test_sleepers_wait_for_advance_when_autojump_is_off() -> None:
    clock = TestClock(autojump=False)

    async def body(step: Step[str]) -> str:
        await step.sleep(10)
        return "woke"

    harness = WorkflowHarness(clock)
    task = asyncio.ensure_future(harness.run(body))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()
    assert clock.pending_sleepers == 1

    clock.advance(9.5)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()

    clock.advance(0.5)
    assert await task == Ok("woke")
    assert clock.monotonic() == 10.0


async def test_a_breaker_on_the_harness_clock_half_opens_after_virtual_time() -> None:
    harness = WorkflowHarness()
    breaker = CircuitBreaker(
        "payments", failure_threshold=2, reset_timeout=30.0, clock=harness.clock
    )
    pay = AsyncMockFn[Result[str, Unavailable]](name="pay").returns(Ok("paid"))
    pay.returns_once(Err(Unavailable(service="psp")))
    pay.returns_once(Err(Unavailable(service="psp")))

    async def body(step: Step[Unavailable | CircuitOpen]) -> str:
        return await step(lambda: pay(), name="pay", policy=Policy(breaker=breaker))

    assert await harness.run(body) == Err(Unavailable(service="psp"))
    assert await harness.run(body) == Err(Unavailable(service="psp"))
    refused = await harness.run(body)
    assert isinstance(refused, Err)
    assert isinstance(refused.error, CircuitOpen)
    assert pay.call_count() == 2  # the open breaker did not call the op

    harness.clock.advance(30.0)
    assert await harness.run(body) == Ok("paid")
    assert pay.call_count() == 3
    assert harness.assert_step_called("pay", times=4)
