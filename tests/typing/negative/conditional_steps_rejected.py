"""Conditional steps that mypy and pyright must reject."""

from __future__ import annotations

from resultflow import Ok, Result, Step, SyncStep
from resultflow.errors import TaggedError


class NotFound(TaggedError):
    id: str


class Declined(TaggedError):
    code: int


async def fetch() -> Result[int, NotFound]:
    return Ok(1)


async def charge() -> Result[int, Declined]:
    return Ok(1)


def load() -> Result[int, NotFound]:
    return Ok(1)


def charge_sync() -> Result[int, Declined]:
    return Ok(1)


async def is_ready() -> bool:
    return True


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


def sync_body(step: SyncStep[NotFound]) -> None:
    step.when(True, lambda: charge_sync())  # expect-error
    step.when(True, fetch)  # expect-error
    step.when(is_ready, lambda: load())  # expect-error
    step.when(True, lambda: load(), timeout=1.0)  # expect-error
    step.unless_or(True, load(), 0, policy=None)  # expect-error
    step(load, timeout=1.0)  # expect-error
    step(load, nmae="typo")  # expect-error
    step.try_(lambda: 1, error=NotFound("x"), breaker=None)  # expect-error
    step(load, retry="3")  # expect-error
