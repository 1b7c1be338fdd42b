"""Typed usage of the wrapping and batch helpers: must pass both checkers in strict mode."""

from __future__ import annotations

from typing import assert_type

from resultflow.combinators import (
    all_ok,
    all_settled,
    any_ok,
    first_ok,
    gather_ok,
    gather_settled,
    partition,
)
from resultflow.errors import UnexpectedError
from resultflow.result import Err, Ok, Result
from resultflow.wrapping import from_optional, safe, try_async, try_call


class NotFound:
    pass


class Timeout:
    pass


async def user(id: int) -> Result[str, NotFound]:
    return Ok(f"user {id}")


async def count(id: int) -> Result[int, Timeout]:
    return Ok(id)


async def ratio(id: int) -> Result[float, str]:
    return Ok(id / 2)


async def raw_number() -> int:
    return 1


def parse(text: str, base: int = 10) -> int:
    return int(text, base)


# -- wrapping ------------------------------------------------------------------------------------
def wrapping(text: str, maybe: int | None) -> None:
    assert_type(try_call(parse, text), Ok[int] | Err[UnexpectedError])
    assert_type(try_call(parse, text, base=16), Ok[int] | Err[UnexpectedError])
    assert_type(try_call(parse, text, on_error=str), Ok[int] | Err[str])
    assert_type(try_call(parse, text, 16, on_error=lambda e: NotFound()), Ok[int] | Err[NotFound])
    assert_type(try_call(lambda: parse(text, base=2), on_error=str), Ok[int] | Err[str])
    assert_type(from_optional(maybe, NotFound()), Ok[int] | Err[NotFound])
    assert_type(from_optional(maybe, NotFound), Ok[int] | Err[NotFound])
    assert_type(from_optional(maybe, lambda: "missing"), Ok[int] | Err[str])


async def async_wrapping() -> None:
    assert_type(await try_async(raw_number()), Ok[int] | Err[UnexpectedError])
    assert_type(await try_async(raw_number), Ok[int] | Err[UnexpectedError])
    assert_type(await try_async(raw_number(), on_error=str), Ok[int] | Err[str])


@safe(ValueError)
def safe_parse(text: str) -> int:
    return int(text)


@safe(KeyError, IndexError)
def lookup(data: dict[str, list[int]], key: str) -> int:
    return data[key][0]


@safe(ValueError, KeyError, IndexError, ZeroDivisionError)
def four(x: int) -> float:
    return 1 / x


@safe(LookupError)
async def safe_fetch(id: int) -> str:
    return str(id)


async def safe_usage() -> None:
    assert_type(safe_parse("1"), Ok[int] | Err[ValueError])
    assert_type(lookup({}, "a"), Ok[int] | Err[KeyError | IndexError])
    assert_type(four(1), Ok[float] | Err[ValueError | KeyError | IndexError | ZeroDivisionError])
    assert_type(await safe_fetch(1), Ok[str] | Err[LookupError])
    result = safe_parse("2")
    match result:
        case Ok(value):
            assert_type(value, int)
        case Err(error):
            assert_type(error, ValueError)


# -- batch ---------------------------------------------------------------------------------------
def batch(results: list[Result[int, str]]) -> None:
    assert_type(all_ok(results), Ok[list[int]] | Err[str])
    assert_type(all_settled(results), Ok[list[int]] | Err[list[str]])
    assert_type(any_ok(results), Ok[int] | Err[list[str]])
    assert_type(partition(results), tuple[list[int], list[str]])


async def gathering() -> None:
    assert_type(await gather_ok(user(1)), Ok[tuple[str]] | Err[NotFound])
    pair = await gather_ok(user(1), count(2))
    assert_type(pair, Ok[tuple[str, int]] | Err[NotFound | Timeout])
    triple = await gather_ok(user(1), count(2), ratio(3))
    assert_type(triple, Ok[tuple[str, int, float]] | Err[NotFound | Timeout | str])
    six = await gather_ok(user(1), count(2), ratio(3), user(4), count(5), ratio(6))
    assert_type(
        six,
        Ok[tuple[str, int, float, str, int, float]] | Err[NotFound | Timeout | str],
    )
    if isinstance(pair, Ok):
        name, number = pair.value
        assert_type(name, str)
        assert_type(number, int)
    settled = await gather_settled(user(1), count(2))
    assert_type(settled, Ok[tuple[str, int]] | Err[list[NotFound | Timeout]])
    first = await first_ok(user(1), count(2))
    assert_type(first, Ok[str | int] | Err[list[NotFound | Timeout]])
    many = [count(i) for i in range(10)]
    assert_type(await gather_ok(*many), Ok[tuple[int, ...]] | Err[Timeout])
