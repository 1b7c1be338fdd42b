"""Wrapping and batch-helper usage that mypy and pyright must reject (each marked line)."""

from __future__ import annotations

from typing import assert_never

from resultflow.combinators import gather_ok
from resultflow.contrib.returns import from_returns
from resultflow.errors import TaggedError
from resultflow.result import Err, Ok, Result
from resultflow.wrapping import safe, try_call


class NotFound(TaggedError):
    id: int


class Forbidden(TaggedError):
    user: str


class Expired(TaggedError):
    pass


@safe(ValueError)
def parse(text: str) -> int:
    return int(text)


def parse_plain(text: str) -> int:
    return int(text)


async def user(id: int) -> Result[str, NotFound]:
    return Ok(str(id))


async def count(id: int) -> Result[int, Forbidden]:
    return Ok(id)


def safe_checks_arguments() -> None:
    parse(1)  # expect-error


def safe_error_type_is_precise() -> Result[int, KeyError]:
    return parse("1")  # expect-error


def try_call_checks_arguments() -> None:
    try_call(parse_plain, 1)  # expect-error
    try_call(parse_plain, 1, on_error=str)  # expect-error


async def gather_ok_is_typed_per_position() -> None:
    pair = await gather_ok(user(1), count(2))
    if isinstance(pair, Ok):
        name, number = pair.value
        name + number  # expect-error


def from_returns_needs_a_returns_result() -> None:
    from_returns(Ok(1))  # expect-error


def describe(error: NotFound | Forbidden | Expired) -> str:
    match error:
        case NotFound():
            return "missing"
        case Forbidden():
            return "forbidden"
        case _:
            assert_never(error)  # expect-error


def describe_result(r: Result[int, NotFound | Forbidden]) -> str:
    match r:
        case Ok():
            return "ok"
        case Err(error):
            return describe(error)
        case _:
            assert_never(r)


def tagged_errors_check_fields() -> None:
    NotFound("x")  # expect-error
