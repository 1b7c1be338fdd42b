"""Typed usage of run, Step, workflow and the sync twins (checked by mypy and pyright)."""

from __future__ import annotations

from typing import assert_type

from resultflow import Err, Ok, Result, Step, UnexpectedError, run, workflow
from resultflow._runtime.sync_runner import SyncStep, run_sync, workflow_sync
from resultflow.errors import TaggedError


class UserNotFound(TaggedError):
    id: str


class InsufficientFunds(TaggedError):
    missing: int


class TransferFailed(TaggedError):
    reason: str


class Receipt:
    def __init__(self, amount: int) -> None:
        self.amount = amount


async def get_user(uid: str) -> Result[str, UserNotFound]:
    return Ok(uid)


def check_balance(user: str, amount: int) -> Result[None, InsufficientFunds]:
    return Ok(None)


async def execute(src: str, dst: str, amount: int) -> Result[Receipt, TransferFailed]:
    return Ok(Receipt(amount))


async def transfer(
    step: Step[UserNotFound | InsufficientFunds | TransferFailed], src: str, dst: str, amount: int
) -> Receipt:
    sender = await step(get_user(src))
    assert_type(sender, str)
    receiver = await step(lambda: get_user(dst), key=f"user:{dst}")
    assert_type(receiver, str)
    await step(check_balance(sender, amount))
    return await step(lambda: execute(sender, receiver, amount), name="execute")


async def subset(step: Step[UserNotFound | InsufficientFunds]) -> str:
    # A step may fail with a subset of the declared union.
    return await step(get_user("a"))


async def combinators(step: Step[UserNotFound]) -> None:
    pair = await step.all(get_user("a"), lambda: get_user("b"))
    assert_type(pair, tuple[str, str])
    triple = await step.all(Ok(1), get_user("a"), Ok(b"x"))
    assert_type(triple, tuple[int, str, bytes])
    named = await step.parallel(a=get_user("a"), b=Ok(1))
    assert_type(named, dict[str, object])
    winner = await step.race(get_user("a"), get_user("b"))
    assert_type(winner, str)
    mapped = await step.map(["a", "b"], lambda uid: get_user(uid), concurrency=2)
    assert_type(mapped, list[str])
    text = await step.try_(lambda: "raw", error=UserNotFound("x"))
    assert_type(text, str)
    maybe = await step.when(True, lambda: Ok(1))
    assert_type(maybe, int | None)


async def settled(step: Step[UserNotFound | list[UserNotFound]]) -> list[str]:
    return await step.all_settled(get_user("a"), get_user("b"))


async def run_results() -> None:
    result = await run(transfer, "a", "b", 10)
    assert_type(
        result,
        Ok[Receipt] | Err[UserNotFound | InsufficientFunds | TransferFailed | UnexpectedError],
    )
    strict = await run(transfer, "a", "b", 10, catch_unexpected=lambda exc: str(exc))
    assert_type(strict, Ok[Receipt] | Err[UserNotFound | InsufficientFunds | TransferFailed | str])


@workflow
async def checkout(step: Step[UserNotFound], order_id: str, *, express: bool = False) -> int:
    await step(get_user(order_id))
    return 1


@workflow(name="strict-checkout", catch_unexpected=lambda exc: TransferFailed(str(exc)))
async def strict_checkout(step: Step[UserNotFound], order_id: str) -> int:
    await step(get_user(order_id))
    return 2


async def workflow_results() -> None:
    assert_type(await checkout("o-1"), Ok[int] | Err[UserNotFound | UnexpectedError])
    assert_type(await checkout("o-1", express=True), Ok[int] | Err[UserNotFound | UnexpectedError])
    assert_type(await strict_checkout("o-2"), Ok[int] | Err[UserNotFound | TransferFailed])


def sync_parse(text: str) -> Result[int, ValueError]:
    return Ok(int(text))


def sync_body(step: SyncStep[ValueError], text: str) -> int:
    return step(sync_parse(text)) + step(lambda: sync_parse(text))


@workflow_sync
def sync_wf(step: SyncStep[ValueError], text: str) -> int:
    return step(sync_parse(text))


def sync_results() -> None:
    assert_type(run_sync(sync_body, "1"), Ok[int] | Err[ValueError | UnexpectedError])
    assert_type(sync_wf("2"), Ok[int] | Err[ValueError | UnexpectedError])
