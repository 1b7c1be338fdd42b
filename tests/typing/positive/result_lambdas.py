"""Lambdas that use their argument (unpack it, iterate it, index it) in Result chains.

On a `Result[T, E]` (the union `Ok[T] | Err[E]`) a method call is checked against both
classes; the class that ignores the callback must not make the lambda's parameter
unusable (`"Never" is not iterable`). Both checkers must infer these without
annotations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_type

from resultflow.result import Err, Ok, Result


@dataclass(frozen=True)
class User:
    name: str
    age: int


async def fetch_user(name: str, age: int) -> User:
    return User(name, age)


async def check_user(name: str, age: int) -> Result[User, str]:
    return Ok(User(name, age))


def and_then_unpacks_a_row(r: Result[tuple[str, int], str]) -> Result[User, str]:
    # A lambda returning only Ok leaves the Err type open: it is Never, not Unknown (the
    # checkers print the union differently, so it is checked by assignment).
    users: Result[User, str] = r.and_then(lambda row: Ok(User(*row)))
    return users


def and_then_may_fail_with_its_own_error(r: Result[tuple[str, int], str]) -> None:
    checked = r.and_then(lambda row: Ok(User(*row)) if row[1] >= 0 else Err(ValueError()))
    assert_type(checked, Ok[User] | Err[ValueError] | Err[str])


def map_unpacks_a_row(r: Result[tuple[str, int], str]) -> Result[User, str]:
    users = r.map(lambda row: User(*row))
    assert_type(users, Ok[User] | Err[str])
    return users


def tap_iterates_the_value(r: Result[list[int], str]) -> Result[list[int], str]:
    tapped = r.tap(lambda xs: [x * 2 for x in xs])
    assert_type(tapped, Ok[list[int]] | Err[str])
    return tapped


def map_indexes_the_value(r: Result[dict[str, int], str]) -> Result[int, str]:
    return r.map(lambda d: d["a"] + len([k.upper() for k in d]))


def map_err_unpacks_the_error(r: Result[int, tuple[str, int]]) -> Result[int, str]:
    described = r.map_err(lambda pair: "{}:{}".format(*pair))
    assert_type(described, Ok[int] | Err[str])
    return described


def tap_err_iterates_the_error(r: Result[int, list[str]]) -> Result[int, list[str]]:
    return r.tap_err(lambda problems: [p.upper() for p in problems])


def or_else_unpacks_the_error(r: Result[int, tuple[str, int]]) -> Result[int, str]:
    recovered = r.or_else(lambda pair: Ok(pair[1]) if pair[0] == "retry" else Err(pair[0]))
    assert_type(recovered, Ok[int] | Err[str])
    return recovered


def one_sided_lambdas_leave_no_unknown_type(
    r: Result[str, str],
) -> tuple[Result[int, str], Result[str, str], Result[str, str]]:
    longer = r.and_then(lambda s: Ok(len(s)))
    failed = r.and_then(lambda s: Err(s.upper()))
    recovered = r.or_else(lambda e: Ok(e.lower()))
    return longer, failed, recovered


def unwrap_or_else_uses_the_error(r: Result[int, list[str]]) -> int:
    return r.unwrap_or_else(lambda problems: len([p.strip() for p in problems]))


def match_uses_both_sides(r: Result[tuple[str, int], list[str]]) -> str:
    return r.match(ok=lambda row: "{}:{}".format(*row), err=lambda errs: ",".join(errs))


async def async_chains_unpack_too(r: Result[tuple[str, int], str]) -> None:
    mapped = await r.map_async(lambda row: fetch_user(*row))
    assert_type(mapped, Ok[User] | Err[str])
    checked = await r.and_then_async(lambda row: check_user(*row))
    assert_type(checked, Ok[User] | Err[str])


async def async_error_chains_unpack_too(r: Result[int, tuple[str, int]]) -> None:
    async def describe(name: str, code: int) -> str:
        return f"{name}:{code}"

    described = await r.map_err_async(lambda pair: describe(*pair))
    assert_type(described, Ok[int] | Err[str])
