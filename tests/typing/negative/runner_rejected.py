"""Runner usage that mypy and pyright must reject (each marked line)."""

from __future__ import annotations

from resultflow import Ok, Result, Step, run, workflow
from resultflow.errors import TaggedError


class UserNotFound(TaggedError):
    id: str


class PaymentDeclined(TaggedError):
    code: int


async def get_user(uid: str) -> Result[str, UserNotFound]:
    return Ok(uid)


async def charge(amount: int) -> Result[int, PaymentDeclined]:
    return Ok(amount)


async def body(step: Step[UserNotFound], uid: str) -> str:
    await step(charge(5))  # expect-error
    await step(lambda: charge(5))  # expect-error
    return await step(get_user(uid))


async def fails_outside_union(step: Step[UserNotFound]) -> str:
    step.fail(PaymentDeclined(1))  # expect-error


async def wrong_body_arguments() -> None:
    await run(body, 42)  # expect-error
    await run(body)  # expect-error


@workflow
async def checkout(step: Step[UserNotFound], order_id: str) -> str:
    return await step(get_user(order_id))


async def wrong_workflow_arguments() -> None:
    await checkout(1)  # expect-error
    await checkout("a", "b")  # expect-error


async def wrong_result_type() -> None:
    result = await run(body, "a")
    value: int = result.unwrap()  # expect-error
