"""Conversions between dry-python `returns` Results and resultflow Results."""

from __future__ import annotations

import pytest
from returns.result import Failure, Success, safe

from resultflow.contrib.returns import from_returns, to_returns
from resultflow.result import Err, Ok


def test_from_returns_success() -> None:
    assert from_returns(Success(1)) == Ok(1)
    assert from_returns(Success(None)) == Ok(None)


def test_from_returns_failure() -> None:
    result = from_returns(Failure("no"))
    assert result == Err("no")
    assert isinstance(result, Err)
    assert result.cause is None


def test_from_returns_failure_holding_an_exception_keeps_it_as_cause() -> None:
    @safe
    def divide(a: int, b: int) -> float:
        return a / b

    result = from_returns(divide(1, 0))
    assert isinstance(result, Err)
    assert isinstance(result.error, ZeroDivisionError)
    assert result.cause is result.error
    assert from_returns(divide(4, 2)) == Ok(2.0)


def test_from_returns_rejects_other_values() -> None:
    with pytest.raises(TypeError, match="Success or Failure"):
        from_returns(Ok(1))


def test_to_returns() -> None:
    assert to_returns(Ok(1)) == Success(1)
    assert to_returns(Err("no")) == Failure("no")
    assert isinstance(to_returns(Ok(1)), Success)
    assert isinstance(to_returns(Err(1)), Failure)


def test_to_returns_drops_the_cause() -> None:
    converted = to_returns(Err("no", cause=ValueError("v")))
    assert converted.failure() == "no"


@pytest.mark.parametrize("result", [Ok(1), Err("e"), Ok([1, 2]), Err({"k": 1})])
def test_round_trip(result: Ok[object] | Err[object]) -> None:
    assert from_returns(to_returns(result)) == result


def test_round_trip_from_the_returns_side() -> None:
    for value in (Success(3), Failure("x")):
        assert to_returns(from_returns(value)) == value
