"""Typed usage of every op form a step accepts, the step variants and the sync twins.

Must pass mypy --strict and pyright strict with zero diagnostics.
"""

from __future__ import annotations

import functools
from typing import assert_type

from returns.result import Failure, Success
from returns.result import Result as ReturnsResult

from resultflow import Err, Ok, Result, Step, UnexpectedError, run
from resultflow._runtime.sync_runner import SyncStep, run_sync
from resultflow.errors import TaggedError


class NotFound(TaggedError):
    id: str


class Declined(TaggedError):
    code: int


def lookup(uid: str) -> ReturnsResult[int, NotFound]:
    """A dry-python `returns` function: its Result is accepted by `step` directly."""
    return Success(len(uid)) if uid else Failure(NotFound(uid))


async def charge(amount: int) -> Result[str, Declined]:
    return Ok(f"charged {amount}")


def sync_charge(amount: int) -> Result[str, Declined]:
    return Ok(f"charged {amount}")


async def body(step: Step[NotFound | Declined], uid: str) -> int:
    n = await step(lookup(uid))
    assert_type(n, int)
    m = await step(lambda: lookup(uid), key=f"len:{uid}")
    assert_type(m, int)
    receipt = await step.timeout(charge(n), 5.0)
    assert_type(receipt, str)
    again = await step.retry(lambda: charge(m), attempts=2)
    assert_type(again, str)
    renamed = await step.from_result(lambda: charge(1), on_error=lambda e: NotFound(str(e.code)))
    assert_type(renamed, str)
    await step.sleep(0.1, key="pause")
    return n + m + len(receipt) + len(again) + len(renamed)


def sync_body(step: SyncStep[NotFound | Declined], uid: str) -> int:
    n = step(lookup(uid))
    assert_type(n, int)
    assert_type(step(lambda: sync_charge(n), key="charge"), str)
    assert_type(step.retry(lambda: sync_charge(n), attempts=3), str)
    assert_type(step.try_(lambda: int(uid), on_error=lambda exc: Declined(1)), int)
    assert_type(step.from_result(lambda: sync_charge(2), on_error=lambda e: NotFound("x")), str)
    step.sleep(1.0)
    return n


async def results(r: Result[int, str]) -> None:
    async def to_len(e: str) -> int:
        return len(e)

    async def recover(e: str) -> Result[int, bytes]:
        return Ok(len(e))

    assert_type(await r.map_err_async(to_len), Ok[int] | Err[int])
    assert_type(await r.or_else_async(recover), Ok[int] | Err[bytes])
    assert_type(await run(body, "a"), Ok[int] | Err[NotFound | Declined | UnexpectedError])
    assert_type(run_sync(sync_body, "a"), Ok[int] | Err[NotFound | Declined | UnexpectedError])
    # Accepted by both checkers; mypy types E as Any here (see typing notes), so prefer
    # run(body, "a") whenever the arguments are positional.
    through_partial = await run(functools.partial(body, uid="a"))
    del through_partial
