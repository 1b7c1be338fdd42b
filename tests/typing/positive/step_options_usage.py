"""Typed usage of `StepOptions`: one set of keywords for every step method, and wrappers
that forward them with `Unpack`.

Must pass mypy --strict and pyright strict with zero diagnostics.
"""

from __future__ import annotations

from typing import assert_type

from typing_extensions import Unpack

from resultflow import Err, Ok, Result, Step, StepOptions
from resultflow.errors import TaggedError
from resultflow.reliability import CircuitBreaker, Policy, RetryPolicy, Timeout
from resultflow.saga import SagaStep


class NotFound(TaggedError):
    id: str


async def fetch(uid: str) -> Result[int, NotFound]:
    return Ok(len(uid)) if uid else Err(NotFound(uid))


async def traced(step: Step[NotFound], uid: str, **options: Unpack[StepOptions]) -> int:
    """A wrapper that adds nothing but forwards every step option, typed."""
    return await step(lambda: fetch(uid), **options)


async def body(step: Step[NotFound], breaker: CircuitBreaker) -> None:
    every: StepOptions = {
        "key": "user:1",
        "name": "fetch",
        "retry": RetryPolicy(attempts=2),
        "timeout": Timeout(1.0, per_attempt=False),
        "policy": Policy(name="p"),
        "breaker": breaker,
        "limiter": None,
        "ttl": 60.0,
        "description": "load the user",
    }
    assert_type(await step(lambda: fetch("a"), **every), int)
    assert_type(await traced(step, "a", name="fetch", retry=3, timeout=2.5), int)
    assert_type(await step(fetch("a"), key="k", timeout=1.0, breaker=breaker), int)
    assert_type(await step(Ok(1), ttl=5.0, description="constant"), int)
    assert_type(await step.try_(lambda: 1, error=NotFound("x"), retry=2, ttl=1.0), int)
    mapped = await step.from_result(lambda: fetch("b"), on_error=lambda e: e, policy=Policy())
    assert_type(mapped, int)
    assert_type(await step.retry(lambda: fetch("c"), attempts=2, timeout=1.0, key="c"), int)


async def saga_body(saga: SagaStep[NotFound]) -> None:
    opts: StepOptions = {"name": "reserve", "retry": 2}
    held = await saga.step(lambda: fetch("a"), compensate=lambda n: None, **opts)
    assert_type(held, int)
    tried = await saga.try_(lambda: "x", error=NotFound("x"), compensate=print, timeout=3.0)
    assert_type(tried, str)
