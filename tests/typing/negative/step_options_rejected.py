"""Step options that mypy and pyright must reject: unknown names and wrong value types."""

from __future__ import annotations

from typing_extensions import Unpack

from resultflow import Ok, Result, Step, StepOptions
from resultflow.errors import TaggedError
from resultflow.saga import SagaStep


class NotFound(TaggedError):
    id: str


async def fetch() -> Result[int, NotFound]:
    return Ok(1)


async def wrapped(step: Step[NotFound], **options: Unpack[StepOptions]) -> int:
    return await step(fetch, **options)


async def unknown_options(step: Step[NotFound], saga: SagaStep[NotFound]) -> None:
    await step(fetch, nmae="typo")  # expect-error
    await step(Ok(1), retries=3)  # expect-error
    await step.try_(lambda: 1, error=NotFound("x"), keys="k")  # expect-error
    await step.from_result(fetch, on_error=lambda e: e, cache=True)  # expect-error
    await saga.step(fetch, compensate=print, undo=print)  # expect-error
    await saga.try_(lambda: 1, error=NotFound("x"), timeout_s=1.0)  # expect-error
    await wrapped(step, nmae="typo")  # expect-error
    bad: StepOptions = {"name": "x", "tries": 3}  # expect-error


async def wrong_types(step: Step[NotFound], saga: SagaStep[NotFound]) -> None:
    await step(fetch, name=1)  # expect-error
    await step(fetch, retry="3")  # expect-error
    await step(fetch, timeout="fast")  # expect-error
    await step(fetch, policy=3)  # expect-error
    await step(fetch, breaker="breaker")  # expect-error
    await step.try_(lambda: 1, error=NotFound("x"), ttl="1h")  # expect-error
    await saga.step(fetch, key=42)  # expect-error
    await saga.try_(lambda: 1, error=NotFound("x"), description=b"bytes")  # expect-error
    await wrapped(step, retry=[3])  # expect-error


async def retry_on_a_bare_awaitable(step: Step[NotFound], saga: SagaStep[NotFound]) -> None:
    await saga.step(fetch(), retry=2)  # expect-error
    await step.retry(fetch, retry=2)  # expect-error
