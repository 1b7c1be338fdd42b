"""Step operations: telling a reusable op from a one-shot awaitable, and wrapping ops.

A step's op is a Result, an awaitable of one, or a zero-argument callable returning
either. A bare awaitable (a coroutine object) can run only once: it cannot be retried,
and when a cache hit means it will never run it must be closed, or Python warns that the
coroutine "was never awaited". Ops that wrap another op (`step.from_result`) keep both
properties of the op they wrap.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import cast

from resultflow.result import Err

__all__ = ["ErrorMapping", "discard", "is_bare_awaitable"]


class ErrorMapping:
    """The op `step.from_result` runs: `source`'s outcome with its Err mapped by `on_error`.

    Exceptions (from `source` or from `on_error`) propagate to the step, which reports
    them as an `UnexpectedError` naming the step; they never reach `on_error`, which only
    sees the error values of `source`.
    """

    __slots__ = ("on_error", "source")

    def __init__(self, source: object, on_error: Callable[[object], object]) -> None:
        self.source = source
        self.on_error = on_error

    async def __call__(self) -> object:
        """Run `source` once and map its error; any other outcome is passed on unchanged."""
        source = self.source
        value: object = source() if callable(source) else source
        if inspect.isawaitable(value):
            value = await value
        if type(value) is Err:
            failed = cast("Err[object]", value)
            return Err(self.on_error(failed.error), failed.cause)
        if "returns.result" in sys.modules:
            # Only a program that has imported `returns` can hold its Results, so it is
            # imported here once loaded, never by resultflow itself (import cost).
            from returns.result import Failure

            if isinstance(value, Failure):
                failure: object = cast("Failure[object]", value).failure()
                cause = failure if isinstance(failure, BaseException) else None
                return Err(self.on_error(failure), cause)
        return value  # an Ok, a returns Success, or a wrong value the step reports

    def __repr__(self) -> str:
        return f"ErrorMapping({self.source!r}, on_error={self.on_error!r})"


def is_bare_awaitable(op: object) -> bool:
    """True for an op that can be awaited only once (a coroutine, a future, ...)."""
    if isinstance(op, ErrorMapping):
        op = op.source
    return not callable(op) and hasattr(op, "__await__")


def discard(op: object) -> None:
    """Close a bare coroutine that will not run, so Python does not warn about it."""
    if isinstance(op, ErrorMapping):
        op = op.source
    if inspect.iscoroutine(op):
        op.close()
