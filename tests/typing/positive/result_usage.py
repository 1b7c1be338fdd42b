"""Typed usage of Ok / Err / Result: must pass mypy --strict and pyright strict.

Chains are checked on a `Result[int, str]` function parameter: pyright narrows a
variable to the type of the value assigned to it, so a parameter keeps the full union.
"""

from __future__ import annotations

from typing import Literal, assert_never, assert_type

from resultflow.result import Err, Ok, Result, is_err, is_ok


class Post:
    def __init__(self, title: str) -> None:
        self.title = title


class PostsError:
    pass


def parse(text: str) -> Result[int, str]:
    return Ok(int(text)) if text.isdigit() else Err(f"not a number: {text}")


def half(x: int) -> Result[float, ValueError]:
    return Ok(x / 2)


async def fetch_posts(user_id: int) -> Result[list[Post], PostsError]:
    return Ok([Post(f"post of {user_id}")])


async def to_text(x: int) -> str:
    return str(x)


def ok_is_a_result_without_helpers() -> Result[int, str]:
    return Ok(1)


def err_is_a_result_without_helpers() -> Result[int, str]:
    return Err("no")


def assignment(x: int) -> None:
    r: Result[int, ValueError] = Ok(x)
    e: Result[int, ValueError] = Err(ValueError("v"))
    widened: Result[int | str, Exception] = r
    assert_type(Ok(1), Ok[int])
    assert_type(Err("e"), Err[str])
    del e, widened


def chains(r: Result[int, str]) -> None:
    assert_type(r.map(lambda x: x * 2), Ok[int] | Err[str])
    assert_type(r.map(str), Ok[str] | Err[str])
    assert_type(r.map_err(len), Ok[int] | Err[int])
    assert_type(r.and_then(half), Ok[float] | Err[str] | Err[ValueError])
    assert_type(r.or_else(parse), Ok[int] | Err[str])
    assert_type(r.tap(print), Ok[int] | Err[str])
    assert_type(r.tap_err(print), Ok[int] | Err[str])
    assert_type(r.map(str).map(len).map_err(lambda e: ValueError(e)), Ok[int] | Err[ValueError])


def extracting(r: Result[int, str]) -> None:
    assert_type(r.unwrap(), int)
    assert_type(r.unwrap_err(), str)
    assert_type(r.unwrap_or(None), int | None)
    assert_type(r.unwrap_or_else(len), int)
    assert_type(r.expect("must be there"), int)
    assert_type(r.match(ok=str, err=len), str | int)
    assert_type(r.ok_or_none(), int | None)
    assert_type(r.err_or_none(), str | None)
    assert_type(r.ok, bool)


async def async_chains(r: Result[int, str]) -> None:
    posts = await r.and_then_async(fetch_posts)
    assert_type(posts, Ok[list[Post]] | Err[str] | Err[PostsError])
    assert_type(await r.map_async(to_text), Ok[str] | Err[str])


def narrowing_isinstance(r: Result[int, str]) -> int:
    if isinstance(r, Ok):
        assert_type(r, Ok[int])
        return r.value
    assert_type(r, Err[str])
    return len(r.error)


def narrowing_match(r: Result[int, str]) -> int:
    match r:
        case Ok(value):
            assert_type(value, int)
            return value
        case Err(error):
            assert_type(error, str)
            return len(error)
        case _:
            assert_never(r)


def narrowing_type_guards(r: Result[int, str]) -> int:
    if is_ok(r):
        assert_type(r, Ok[int])
        return r.value
    assert_type(r, Err[str])
    if is_err(r):
        return len(r.error)
    assert_never(r)


def narrowing_ok_flag(r: Result[int, str]) -> int:
    if r.ok is True:
        assert_type(r, Ok[int])
        return r.value
    assert_type(r, Err[str])
    return len(r.error)


def narrowing_ok_flag_false(r: Result[int, str]) -> str:
    if r.ok is False:
        return r.error
    return str(r.value)


def ok_flag_literal() -> None:
    assert_type(Ok(1).ok, Literal[True])
    assert_type(Err(1).ok, Literal[False])


def cause_is_object(e: Err[str]) -> object:
    return e.cause
