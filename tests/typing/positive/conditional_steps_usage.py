"""Typed usage of conditional steps (`step.when`, ...) and conditional thunks.

A conditional step takes every op form and option of `step(...)` and returns its Ok
value (or None / the default when skipped); the thunk helpers return the thunk's value.
Must pass mypy --strict and pyright strict with zero diagnostics.
"""

from __future__ import annotations

from typing import assert_type

from returns.result import Result as ReturnsResult
from returns.result import Success

from resultflow import Err, Ok, Result, Step, SyncStep, conditionals, run, when, when_or
from resultflow._runtime.options import SyncStepOptions
from resultflow.errors import TaggedError, UnexpectedError
from resultflow.reliability import Policy


class NotFound(TaggedError):
    id: str


class Declined(TaggedError):
    code: int


async def fetch(uid: str) -> Result[int, NotFound]:
    return Ok(len(uid))


def load(uid: str) -> Result[str, NotFound]:
    return Ok(uid)


def lookup(uid: str) -> ReturnsResult[bytes, NotFound]:
    return Success(uid.encode())


async def is_premium() -> bool:
    return True


async def body(step: Step[NotFound | Declined], uid: str) -> int | None:
    assert_type(await step.when(True, fetch(uid)), int | None)
    assert_type(await step.when(is_premium, lambda: fetch(uid), name="n", key="k"), int | None)
    assert_type(await step.unless(lambda: False, lambda: load(uid), retry=2), str | None)
    assert_type(await step.when(True, Ok(1.5), reason="always"), float | None)
    assert_type(await step.when(True, lambda: lookup(uid)), bytes | None)
    assert_type(await step.when_or(False, lambda: fetch(uid), "none"), int | str)
    assert_type(await step.unless_or(True, load(uid), 0, policy=Policy(), timeout=1.0), str | int)
    return await step.when(True, lambda: Ok(1))  # the return type is the context


async def thunks(step: Step[NotFound]) -> None:
    assert_type(await when(True, lambda: 1), int | None)
    assert_type(await when_or(is_premium, is_premium, "no"), bool | str)
    helpers = conditionals(step.context)
    assert_type(await helpers.when(True, lambda: "x", name="n", reason="r"), str | None)


async def results() -> None:
    assert_type(await run(body, "a"), Ok[int | None] | Err[NotFound | Declined | UnexpectedError])


def sync_body(step: SyncStep[NotFound], uid: str) -> str | None:
    assert_type(step.when(True, load(uid), name="n", key="k"), str | None)
    assert_type(step.unless(lambda: False, lambda: load(uid), retry=2), str | None)
    assert_type(step.when_or(False, lambda: lookup(uid), 0), bytes | int)
    assert_type(step.unless_or(True, Ok(1.5), "none", ttl=1.0, description="d"), float | str)
    options: SyncStepOptions = {"name": "load", "retry": 3}
    assert_type(step(lambda: load(uid), **options), str)
    assert_type(step.try_(lambda: 1, error=NotFound("x"), key="k", ttl=2.0), int)
    return step.when(True, lambda: Ok("x"))
