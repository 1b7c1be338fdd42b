"""Typed usage of the dry-python `returns` interop: must pass both checkers (strict)."""

from __future__ import annotations

from typing import assert_type

from returns.result import Result as ReturnsResult
from returns.result import Success

from resultflow.contrib.returns import from_returns, to_returns
from resultflow.result import Err, Ok, Result


def convert(theirs: ReturnsResult[int, str], ours: Result[int, str]) -> None:
    assert_type(from_returns(theirs), Ok[int] | Err[str])
    assert_type(to_returns(ours), ReturnsResult[int, str])
    assert_type(from_returns(to_returns(ours)), Ok[int] | Err[str])


def from_a_success() -> Result[int, str]:
    return from_returns(Success(1))
