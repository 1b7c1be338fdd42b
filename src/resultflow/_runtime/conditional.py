"""Conditionals: run a thunk only when (or unless) a condition holds.

`await when(cond, thunk)` runs `thunk` if `cond` holds and returns what it returns
(awaited when it is async), else None; `unless` is the inverse; `when_or` /
`unless_or` return a default instead of None. `cond` is a bool or a zero-argument
predicate, sync or async.

The module-level functions emit nothing. Inside a workflow, use the helpers from
`conditionals(step.context)` (or `step.when(...)`): they behave the same and also emit
a `step_skipped` event into the run, carrying its `workflow_id` and `context`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TypeAlias, TypeVar, overload

from resultflow._runtime.context import RunContext
from resultflow._runtime.pipeline import StepBase
from resultflow.events import StepSkipped

__all__ = [
    "Condition",
    "ConditionalSteps",
    "Conditionals",
    "conditionals",
    "unless",
    "unless_or",
    "when",
    "when_or",
]

T = TypeVar("T")
D = TypeVar("D")
E_contra = TypeVar("E_contra", contravariant=True)

Condition: TypeAlias = bool | Callable[[], bool] | Callable[[], Awaitable[bool]]
"""A bool, or a zero-argument predicate returning a bool (sync or async)."""


# -- standalone ----------------------------------------------------------------------
@overload
async def when(
    cond: Condition,
    thunk: Callable[[], Awaitable[T]],
    *,
    name: str | None = None,
    reason: str | None = None,
) -> T | None: ...
@overload
async def when(
    cond: Condition, thunk: Callable[[], T], *, name: str | None = None, reason: str | None = None
) -> T | None: ...
async def when(
    cond: Condition,
    thunk: Callable[[], object],
    *,
    name: str | None = None,
    reason: str | None = None,
) -> object:
    """Run `thunk` if `cond` holds and return its result; otherwise return None.

    `name` and `reason` describe the skip; the standalone form emits no event.
    """
    return await _call(thunk) if await _holds(cond) else None


@overload
async def unless(
    cond: Condition,
    thunk: Callable[[], Awaitable[T]],
    *,
    name: str | None = None,
    reason: str | None = None,
) -> T | None: ...
@overload
async def unless(
    cond: Condition, thunk: Callable[[], T], *, name: str | None = None, reason: str | None = None
) -> T | None: ...
async def unless(
    cond: Condition,
    thunk: Callable[[], object],
    *,
    name: str | None = None,
    reason: str | None = None,
) -> object:
    """Run `thunk` unless `cond` holds and return its result; otherwise return None."""
    return None if await _holds(cond) else await _call(thunk)


@overload
async def when_or(
    cond: Condition,
    thunk: Callable[[], Awaitable[T]],
    default: D,
    *,
    name: str | None = None,
    reason: str | None = None,
) -> T | D: ...
@overload
async def when_or(
    cond: Condition,
    thunk: Callable[[], T],
    default: D,
    *,
    name: str | None = None,
    reason: str | None = None,
) -> T | D: ...
async def when_or(
    cond: Condition,
    thunk: Callable[[], object],
    default: object,
    *,
    name: str | None = None,
    reason: str | None = None,
) -> object:
    """Run `thunk` if `cond` holds and return its result; otherwise return `default`."""
    return await _call(thunk) if await _holds(cond) else default


@overload
async def unless_or(
    cond: Condition,
    thunk: Callable[[], Awaitable[T]],
    default: D,
    *,
    name: str | None = None,
    reason: str | None = None,
) -> T | D: ...
@overload
async def unless_or(
    cond: Condition,
    thunk: Callable[[], T],
    default: D,
    *,
    name: str | None = None,
    reason: str | None = None,
) -> T | D: ...
async def unless_or(
    cond: Condition,
    thunk: Callable[[], object],
    default: object,
    *,
    name: str | None = None,
    reason: str | None = None,
) -> object:
    """Run `thunk` unless `cond` holds and return its result; otherwise return `default`."""
    return default if await _holds(cond) else await _call(thunk)


# -- inside a run --------------------------------------------------------------------
def conditionals(ctx: RunContext) -> Conditionals:
    """Conditional helpers bound to a run: a skip emits `step_skipped` into it."""
    return Conditionals(ctx)


class Conditionals:
    """`when` / `unless` / `when_or` / `unless_or` that report skips to a run.

    Each skip emits `StepSkipped(name=..., reason=...)` with the run's `workflow_id`,
    `context` and a fresh `step_id` (only when the run has a listener).
    """

    __slots__ = ("_ctx",)

    def __init__(self, ctx: RunContext) -> None:
        self._ctx = ctx

    @property
    def context(self) -> RunContext:
        """The run these helpers report to."""
        return self._ctx

    @overload
    async def when(
        self,
        cond: Condition,
        thunk: Callable[[], Awaitable[T]],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | None: ...
    @overload
    async def when(
        self,
        cond: Condition,
        thunk: Callable[[], T],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | None: ...
    async def when(
        self,
        cond: Condition,
        thunk: Callable[[], object],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> object:
        """Like `when`; a skip emits `step_skipped`."""
        if await _holds(cond):
            return await _call(thunk)
        await self._skipped(name, reason)
        return None

    @overload
    async def unless(
        self,
        cond: Condition,
        thunk: Callable[[], Awaitable[T]],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | None: ...
    @overload
    async def unless(
        self,
        cond: Condition,
        thunk: Callable[[], T],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | None: ...
    async def unless(
        self,
        cond: Condition,
        thunk: Callable[[], object],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> object:
        """Like `unless`; a skip emits `step_skipped`."""
        if not await _holds(cond):
            return await _call(thunk)
        await self._skipped(name, reason)
        return None

    @overload
    async def when_or(
        self,
        cond: Condition,
        thunk: Callable[[], Awaitable[T]],
        default: D,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | D: ...
    @overload
    async def when_or(
        self,
        cond: Condition,
        thunk: Callable[[], T],
        default: D,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | D: ...
    async def when_or(
        self,
        cond: Condition,
        thunk: Callable[[], object],
        default: object,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> object:
        """Like `when_or`; a skip emits `step_skipped`."""
        if await _holds(cond):
            return await _call(thunk)
        await self._skipped(name, reason)
        return default

    @overload
    async def unless_or(
        self,
        cond: Condition,
        thunk: Callable[[], Awaitable[T]],
        default: D,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | D: ...
    @overload
    async def unless_or(
        self,
        cond: Condition,
        thunk: Callable[[], T],
        default: D,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | D: ...
    async def unless_or(
        self,
        cond: Condition,
        thunk: Callable[[], object],
        default: object,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> object:
        """Like `unless_or`; a skip emits `step_skipped`."""
        if not await _holds(cond):
            return await _call(thunk)
        await self._skipped(name, reason)
        return default

    async def _skipped(self, name: str | None, reason: str | None) -> None:
        ctx = self._ctx
        if ctx.listening:
            await ctx.emit(
                StepSkipped(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    step_id=ctx.new_step_id(),
                    name=name,
                    reason=reason,
                )
            )


# -- internals -----------------------------------------------------------------------
async def _holds(cond: Condition) -> bool:
    """Evaluate a condition: a bool as is, a predicate called (and awaited if async)."""
    if isinstance(cond, bool):
        return cond
    if not callable(cond):
        raise TypeError(f"a condition is a bool or a zero-argument predicate, got {cond!r}")
    outcome: object = cond()
    if inspect.isawaitable(outcome):
        outcome = await outcome
    return bool(outcome)


async def _call(thunk: Callable[[], object]) -> object:
    """Call the thunk, awaiting its result when it is awaitable."""
    if not callable(thunk):
        raise TypeError(f"the thunk must be a zero-argument callable, got {thunk!r}")
    value = thunk()
    if inspect.isawaitable(value):
        return await value
    return value


class ConditionalSteps(StepBase[E_contra]):
    """The conditional step variants: `when`, `unless`, `when_or`, `unless_or`.

    Unlike the module functions, these emit `step_skipped` into the run.
    """

    __slots__ = ()

    @overload
    async def when(
        self,
        cond: Condition,
        thunk: Callable[[], Awaitable[T]],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | None: ...

    @overload
    async def when(
        self,
        cond: Condition,
        thunk: Callable[[], T],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | None: ...

    async def when(
        self,
        cond: Condition,
        thunk: Callable[[], object],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> object:
        """Run `thunk` if `cond` holds; otherwise emit `step_skipped` and return None."""
        helpers = conditionals(self._run.ctx)
        return await helpers.when(cond, thunk, name=name, reason=reason)

    @overload
    async def unless(
        self,
        cond: Condition,
        thunk: Callable[[], Awaitable[T]],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | None: ...

    @overload
    async def unless(
        self,
        cond: Condition,
        thunk: Callable[[], T],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | None: ...

    async def unless(
        self,
        cond: Condition,
        thunk: Callable[[], object],
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> object:
        """Run `thunk` unless `cond` holds; otherwise emit `step_skipped` and return None."""
        helpers = conditionals(self._run.ctx)
        return await helpers.unless(cond, thunk, name=name, reason=reason)

    @overload
    async def when_or(
        self,
        cond: Condition,
        thunk: Callable[[], Awaitable[T]],
        default: D,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | D: ...

    @overload
    async def when_or(
        self,
        cond: Condition,
        thunk: Callable[[], T],
        default: D,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | D: ...

    async def when_or(
        self,
        cond: Condition,
        thunk: Callable[[], object],
        default: object,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> object:
        """Like `when`, returning `default` instead of None when skipped."""
        helpers = conditionals(self._run.ctx)
        return await helpers.when_or(cond, thunk, default, name=name, reason=reason)

    @overload
    async def unless_or(
        self,
        cond: Condition,
        thunk: Callable[[], Awaitable[T]],
        default: D,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | D: ...

    @overload
    async def unless_or(
        self,
        cond: Condition,
        thunk: Callable[[], T],
        default: D,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> T | D: ...

    async def unless_or(
        self,
        cond: Condition,
        thunk: Callable[[], object],
        default: object,
        *,
        name: str | None = None,
        reason: str | None = None,
    ) -> object:
        """Like `unless`, returning `default` instead of None when skipped."""
        helpers = conditionals(self._run.ctx)
        return await helpers.unless_or(cond, thunk, default, name=name, reason=reason)
