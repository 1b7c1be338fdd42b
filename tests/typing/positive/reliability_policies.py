"""Type-checked usage of retries, policies and conditionals (never executed)."""

from __future__ import annotations

from typing import assert_type

from resultflow._runtime.conditional import conditionals, unless, unless_or, when, when_or
from resultflow._runtime.context import RunContext
from resultflow.errors import TaggedError, UnexpectedError
from resultflow.reliability._policies import (
    Policy,
    PolicyRegistry,
    apply_policies,
    resolve_step_options,
    retry_policies,
    service_policies,
    step_options,
    with_policy,
)
from resultflow.reliability._retry import RetryPolicy, retry_call, retry_call_sync
from resultflow.result import Err, Ok


class NotFound(TaggedError):
    id: str


async def fetch_user() -> Ok[str] | Err[NotFound]:
    return Ok("ada")


def load_user() -> Ok[str] | Err[NotFound]:
    return Ok("ada")


async def count() -> int:
    return 1


def label() -> str:
    return "x"


async def retries() -> None:
    result = await retry_call(fetch_user, RetryPolicy(attempts=3))
    assert_type(result, Ok[str] | Err[NotFound | UnexpectedError])
    assert_type(retry_call_sync(load_user, 3), Ok[str] | Err[NotFound | UnexpectedError])
    assert_type(RetryPolicy.coerce(3), RetryPolicy)
    assert_type(RetryPolicy().next_delay(1, 0.0), float | None)
    assert_type(RetryPolicy().should_retry(NotFound("1")), bool)


def policies() -> None:
    assert_type(with_policy(service_policies.http_api, name="fetch", key="user:1"), Policy)
    assert_type(apply_policies(retry_policies.standard)(name="x", retry=2), Policy)
    assert_type(PolicyRegistry().apply("api", timeout=5), Policy)
    assert_type(step_options().name("fetch").key("k").timeout(5).attempts(3).build(), Policy)
    assert_type(resolve_step_options([], None, retry=3, key="k"), Policy)
    assert_type(retry_policies.fixed(3, 1.0), Policy)


async def conditions(ctx: RunContext) -> None:
    assert_type(await when(True, count), int | None)
    assert_type(await when(lambda: True, label), str | None)
    assert_type(await unless(False, count), int | None)
    assert_type(await when_or(True, count, "none"), int | str)
    assert_type(await unless_or(False, label, 0), str | int)
    helpers = conditionals(ctx)
    assert_type(await helpers.when(True, count, name="n", reason="r"), int | None)
    assert_type(await helpers.when_or(False, label, None), str | None)
