"""`Guard`: anything that admits or refuses a Result-returning call.

Circuit breakers and rate / concurrency limiters are guards: a step given
`breaker=` or `limiter=` (directly or through a `Policy`) runs each attempt through
`guard.call_result(attempt)`, which either runs it or returns an Err such as
`CircuitOpen` or `RateLimited` without running it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar, runtime_checkable

from resultflow.result import Err, Ok

__all__ = ["Guard"]

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
        """Run `fn` if admitted; otherwise return the guard's refusal as an Err."""
        ...
