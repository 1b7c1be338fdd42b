"""`StepOptions`: one set of keywords for every step method, checked at run time too."""

from __future__ import annotations

import gc
from typing import Any

from resultflow import Err, Ok, Result, Step, StepOptions, UnexpectedError, run
from resultflow._runtime.options import (
    STEP_OPTION_NAMES,
    StepOptionsWithoutRetry,
    SyncStepOptions,
)
from resultflow.events import StepStarted, WorkflowEvent
from resultflow.reliability import Policy, RetryPolicy
from resultflow.saga import SagaStep, run_saga
from resultflow.testing._clock import TestClock


class Flaky:
    """Raises until its `fails`-th call has passed, then returns a value."""

    def __init__(self, fails: int) -> None:
        self.fails = fails
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.fails:
            raise ConnectionError(f"attempt {self.calls}")
        return f"ok after {self.calls}"


def test_the_option_sets_are_made_of_the_same_declarations() -> None:
    everything = {"key", "name", "retry", "timeout", "policy", "breaker", "limiter", "ttl"}
    assert everything | {"description", "cache_errors"} == STEP_OPTION_NAMES
    assert StepOptionsWithoutRetry.__optional_keys__ == STEP_OPTION_NAMES - {"retry"}
    assert SyncStepOptions.__optional_keys__ == {
        "key",
        "name",
        "retry",
        "ttl",
        "description",
        "cache_errors",
    }


async def test_an_unknown_option_ends_the_run_with_a_type_error_naming_it() -> None:
    async def fetch() -> Result[int, str]:
        return Ok(1)

    async def body(step: Step[str]) -> int:
        options: Any = {"nmae": "typo", "key": "k"}
        return await step(fetch(), **options)

    result = await run(body)
    gc.collect()  # the bare coroutine was closed: no "never awaited" warning (an error here)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "TypeError"
    assert "unknown step option(s): nmae" in result.error.message


async def test_forwarded_options_reach_the_step() -> None:
    events: list[WorkflowEvent] = []

    async def body(step: Step[str]) -> int:
        forwarded: StepOptions = {"name": "load", "key": "user:7", "description": "d"}
        return await step(lambda: Ok(7), **forwarded)

    assert await run(body, on_event=lambda e, c: events.append(e)) == Ok(7)
    started = [e for e in events if isinstance(e, StepStarted)]
    assert [(e.name, e.key) for e in started] == [("load", "user:7")]


async def test_try_takes_every_step_option_such_as_a_policy() -> None:
    flaky = Flaky(1)
    retry_twice = Policy(retry=RetryPolicy(attempts=2, backoff="fixed", initial=0.5))

    async def body(step: Step[str]) -> str:
        return await step.try_(flaky, error="down", policy=retry_twice, ttl=5.0)

    assert await run(body, clock=TestClock()) == Ok("ok after 2")
    assert flaky.calls == 2


async def test_saga_steps_take_every_step_option() -> None:
    flaky = Flaky(1)
    undone: list[object] = []
    retry_twice = Policy(retry=RetryPolicy(attempts=2, backoff="fixed", initial=0.5))

    async def body(saga: SagaStep[str]) -> str:
        tried = await saga.try_(
            flaky, error="down", name="reserve", policy=retry_twice, compensate=undone.append
        )
        await saga.step(lambda: Err("declined"), name="charge", description="card")
        return tried

    result = await run_saga(body, clock=TestClock())
    assert result == Err("declined")
    assert undone == ["ok after 2"]
