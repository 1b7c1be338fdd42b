"""Step usage that mypy and pyright must reject: error types outside the declared union."""

from __future__ import annotations

from returns.result import Failure
from returns.result import Result as ReturnsResult

from resultflow import Err, Ok, Result, Step
from resultflow.errors import TaggedError
from resultflow._runtime.sync_runner import SyncStep


class NotFound(TaggedError):
    id: str


class Declined(TaggedError):
    code: int


def declined() -> ReturnsResult[int, Declined]:
    return Failure(Declined(1))


async def charge() -> Result[int, Declined]:
    return Ok(1)


async def find() -> Result[int, NotFound]:
    return Ok(1)


def sync_charge() -> Result[int, Declined]:
    return Err(Declined(2))


async def async_variants(step: Step[NotFound]) -> None:
    await step(declined())  # expect-error
    await step(lambda: declined())  # expect-error
    await step.all(charge(), Ok(1))  # expect-error
    await step.race(find(), charge())  # expect-error
    await step.try_(lambda: 1, error=Declined(3))  # expect-error
    await step.try_(lambda: 1, on_error=lambda exc: Declined(3))  # expect-error
    await step.from_result(charge(), on_error=lambda e: e)  # expect-error
    await step.map([1, 2], lambda n: charge())  # expect-error
    await step.timeout(charge(), 1.0)  # expect-error
    await step.retry(lambda: charge())  # expect-error
    await step(find(), retry=2)  # expect-error


def sync_variants(step: SyncStep[NotFound]) -> None:
    step(sync_charge())  # expect-error
    step(declined())  # expect-error
    step.try_(lambda: 1, error=Declined(3))  # expect-error
    step.from_result(sync_charge, on_error=lambda e: e)  # expect-error
    step.retry(sync_charge)  # expect-error
    step.fail(Declined(4))  # expect-error
