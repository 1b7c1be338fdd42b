"""Conditional steps that mypy and pyright must reject."""

from __future__ import annotations

from resultflow import Ok, Result, Step
from resultflow.errors import TaggedError


class NotFound(TaggedError):
    id: str


class Declined(TaggedError):
    code: int


async def fetch() -> Result[int, NotFound]:
    return Ok(1)


async def charge() -> Result[int, Declined]:
    return Ok(1)


async def body(step: Step[NotFound]) -> None:
    await step.when(True, charge)  # expect-error
    await step.unless(False, charge())  # expect-error
    await step.when_or(True, lambda: charge(), 0)  # expect-error
    await step.when(True, lambda: 1)  # expect-error
    await step.when(True, fetch, nmae="typo")  # expect-error
    await step.unless_or(True, fetch, 0, retries=3)  # expect-error
    await step.when(True, fetch, name=1)  # expect-error
    await step.when(True, fetch, reason=3)  # expect-error
    await step.when("yes", fetch)  # expect-error
    await step.when(True, fetch, key=b"k")  # expect-error
