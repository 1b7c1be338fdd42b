"""Convert between dry-python `returns` Results and resultflow Results.

```python
from returns.result import Failure, Success

from_returns(Success(1))      # Ok(1)
from_returns(Failure("no"))   # Err('no')
to_returns(Ok(1))             # <Success: 1>
```

Types carry over: `returns.result.Result[int, str]` becomes `Result[int, str]` and back.
An Err's `cause` has no place in `returns`, so `to_returns` drops it; `from_returns` sets
the cause of an `Err` to the failure value when that value is an exception.
"""

from __future__ import annotations

from typing import TypeVar

from returns.result import Failure, Success
from returns.result import Result as ReturnsResult

from resultflow.result import Err, Ok, Result

__all__ = ["from_returns", "to_returns"]

T = TypeVar("T")
E = TypeVar("E")


def from_returns(result: ReturnsResult[T, E]) -> Result[T, E]:
    """Turn `Success(value)` into `Ok(value)` and `Failure(error)` into `Err(error)`."""
    if _is_success(result):
        return Ok(result.unwrap())
    if not _is_failure(result):
        raise TypeError(f"from_returns() expects a returns Success or Failure, got {result!r}")
    error = result.failure()
    return Err(error, cause=error if isinstance(error, BaseException) else None)


def to_returns(result: Result[T, E]) -> ReturnsResult[T, E]:
    """Turn `Ok(value)` into `Success(value)` and `Err(error)` into `Failure(error)`."""
    if isinstance(result, Ok):
        return Success(result.value)
    return Failure(result.error)


# A plain bool (not a narrowing isinstance) keeps `result` typed as Result[T, E], so
# unwrap() and failure() return T and E: mypy would narrow it to Success[Any].
def _is_success(result: object) -> bool:
    return isinstance(result, Success)


def _is_failure(result: object) -> bool:
    return isinstance(result, Failure)
