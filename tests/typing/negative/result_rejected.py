"""Result usage that mypy and pyright must reject (each marked line)."""

from __future__ import annotations

from typing import assert_never

from resultflow.result import Err, Ok, Result


def wrong_function_for_map(r: Result[int, str]) -> None:
    r.map(lambda x: x.upper())  # expect-error: upper
    r.map_err(lambda e: e + 1)  # expect-error
    r.map("not callable")  # expect-error


def and_then_needs_a_result(r: Result[int, str]) -> None:
    r.and_then(lambda x: x + 1)  # expect-error


def wrong_error_type(r: Result[int, str]) -> Result[int, int]:
    return r  # expect-error: return-value || reportReturnType


def wrong_value_type(r: Result[int, str]) -> str:
    text: str = r.unwrap()  # expect-error
    return text


def err_is_not_assignable_to_a_result_with_another_error() -> Result[int, str]:
    return Err(404)  # expect-error


def missing_match_case(r: Result[int, str]) -> int:
    match r:
        case Ok(value):
            return value
        case _:
            assert_never(r)  # expect-error


def value_is_not_there_without_narrowing(r: Result[int, str]) -> int:
    return r.value  # expect-error: value
