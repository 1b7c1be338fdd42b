"""`Guard`: anything that admits or refuses a Result-returning call.

Circuit breakers and rate / concurrency limiters are guards: a step given
`breaker=` or `limiter=` (directly or through a `Policy`) runs each attempt through
`guard.call_result(attempt)`, which either runs it or returns an Err such as
`CircuitOpen` or `RateLimited` without running it.

Every guard's `call_result` answers with a Result and never raises for what the call
or the guard's store did: an exception raised by `fn` comes back as
`Err(UnexpectedError)` (the exception as the Err's `cause`), and so does a store
failure that kept `fn` from running. One rule for all guards, so stacking a breaker
and a limiter on a step never changes how a raising op ends up. Only cancellation and
other `BaseException`s propagate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, runtime_checkable

from resultflow.errors import UnexpectedError
from resultflow.result import Err, Ok, Result

__all__ = ["Guard", "run_admitted"]

T = TypeVar("T")
E = TypeVar("E")


@runtime_checkable
class Guard(Protocol):
    """Runs a Result-returning call, or refuses it with an Err of its own."""

    @property
    def name(self) -> str:
        """The guard's name, used in its errors and events."""
        ...

    async def call_result(
        self, fn: Callable[[], Awaitable[Ok[T] | Err[E]]]
    ) -> Ok[T] | Err[E] | Err[object]:
        """Run `fn` if admitted; otherwise return the guard's refusal as an Err.

        An exception raised by `fn` is returned as `Err(UnexpectedError)`, not raised.
        """
        ...


async def run_admitted(
    fn: Callable[[], Awaitable[Result[T, E]]],
) -> Result[T, E | UnexpectedError]:
    """Run a call a guard admitted: its Result, or `Err(UnexpectedError)` if it raised."""
    try:
        return await fn()
    except Exception as exc:
        return Err(UnexpectedError.from_exception(exc), exc)
