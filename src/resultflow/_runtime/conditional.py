"""Conditionals: run something only when (or unless) a condition holds.

Two families share one decision (`_branch`: evaluate the condition, then run or skip):

- **Thunks.** `await when(cond, thunk)` runs `thunk` if `cond` holds and returns what it
  returns (awaited when it is async), else None; `unless` is the inverse; `when_or` /
  `unless_or` return a default instead of None. The module functions emit nothing; the
  helpers from `conditionals(step.context)` do the same and report a skip to the run as
  a `step_skipped` event (with its `workflow_id` and `context`).
- **Steps.** `await step.when(cond, op, name=..., key=..., reason=...)` (and `unless`,
  `when_or`, `unless_or`) is a step: when it runs, `op` takes every form `step(op)`
  takes, with every step option; its Ok value is returned, its Err ends the run, and it
  emits step events like any step (so devtools and OpenTelemetry show it). When it does
  not run, `step_skipped` is emitted (with the step's name and key) and the value is
  None, or the default. `SyncStep` has the same steps (`SyncConditionalSteps`), with a
  synchronous predicate; both run one coroutine, which `run_sync` drives to its end.

`cond` is a bool or a zero-argument predicate, sync or async.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeAlias, TypeVar, cast, overload

from typing_extensions import Unpack

from resultflow._runtime.context import RunContext
from resultflow._runtime.drivers import complete, refuse_awaitable
from resultflow._runtime.options import (
    StepOptions,
    SyncStepOptions,
    build_spec,
    build_sync_spec,
)
from resultflow._runtime.pipeline import StepBase, StepOp, StepSpec
from resultflow._runtime.step_ops import discard
from resultflow.events import StepSkipped
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from returns.result import Result as ReturnsResult

__all__ = [
    "Condition",
    "ConditionalSteps",
    "Conditionals",
    "SyncCondition",
    "SyncConditionalSteps",
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

SyncCondition: TypeAlias = bool | Callable[[], bool]
"""The condition of a `SyncStep` conditional: a bool or a synchronous predicate."""

_Skip: TypeAlias = Callable[[], Awaitable[None]] | None


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
    return await _branch(cond, True, thunk, None, None)


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
    return await _branch(cond, False, thunk, None, None)


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
    return await _branch(cond, True, thunk, default, None)


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
    return await _branch(cond, False, thunk, default, None)


# -- thunks inside a run ---------------------------------------------------------------
def conditionals(ctx: RunContext) -> Conditionals:
    """Conditional helpers bound to a run: a skip emits `step_skipped` into it."""
    return Conditionals(ctx)


class Conditionals:
    """`when` / `unless` / `when_or` / `unless_or` that report skips to a run.

    They run thunks and return what the thunks return, like the module functions (use
    `step.when(...)` to run a *step* conditionally). Each skip emits
    `StepSkipped(name=..., reason=...)` with the run's `workflow_id`, `context` and a
    fresh `step_id` (only when the run has a listener).
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
        return await _branch(cond, True, thunk, None, self._reporter(name, reason))

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
        return await _branch(cond, False, thunk, None, self._reporter(name, reason))

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
        return await _branch(cond, True, thunk, default, self._reporter(name, reason))

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
        return await _branch(cond, False, thunk, default, self._reporter(name, reason))

    def _reporter(self, name: str | None, reason: str | None) -> _Skip:
        """What a skip does: emit `step_skipped` when the run has a listener."""
        ctx = self._ctx
        if not ctx.listening:
            return None

        async def report() -> None:
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

        return report


# -- steps ----------------------------------------------------------------------------
class _ConditionalStepBase(StepBase[E_contra]):
    """What the async and sync conditional steps share: the step-or-skip itself.

    `_conditional` is a coroutine in both cases; a `SyncStep` drives it to its end with
    the sync driver's `complete` (under `run_sync` nothing in it ever waits).
    """

    __slots__ = ()

    async def _conditional(
        self,
        cond: Condition,
        run_if: bool,
        op: object,
        default: object,
        reason: str | None,
        spec: StepSpec,
        *,
        sync: bool = False,
    ) -> object:
        run = self._run

        async def step() -> object:
            return self._unwrap(await run.execute(op, spec))

        async def skip() -> None:
            discard(op)  # a bare coroutine that never runs is closed, not left unawaited
            ctx = run.ctx
            if ctx.listening:
                fields = run.step_fields(ctx.new_step_id(), spec.name, spec.key, run.parent_id())
                await ctx.emit(StepSkipped(**fields, reason=reason))

        try:
            return await _branch(cond, run_if, step, default, skip, sync=sync)
        except BaseException:
            discard(op)  # the predicate raised, so a bare coroutine never ran: close it
            raise


class ConditionalSteps(_ConditionalStepBase[E_contra]):
    """The conditional step variants: `when`, `unless`, `when_or`, `unless_or`.

    Each is a step when it runs (`op` takes the forms and options of `step(op)`: its Ok
    value is returned, its Err ends the run, step events are emitted with its name and
    key) and emits `step_skipped` when it does not.
    """

    __slots__ = ()

    async def when(
        self,
        cond: Condition,
        # Spelled out, not aliased: through an alias mypy infers a lambda as returns' Result.
        op: StepOp[T, E_contra]
        | ReturnsResult[T, E_contra]
        | Callable[[], ReturnsResult[T, E_contra]],
        *,
        reason: str | None = None,
        **options: Unpack[StepOptions],
    ) -> T | None:
        """Run `op` as a step if `cond` holds; otherwise emit `step_skipped`, return None."""
        spec = build_spec(self._run, op, **options)
        return cast("T | None", await self._conditional(cond, True, op, None, reason, spec))

    async def unless(
        self,
        cond: Condition,
        op: StepOp[T, E_contra]
        | ReturnsResult[T, E_contra]
        | Callable[[], ReturnsResult[T, E_contra]],
        *,
        reason: str | None = None,
        **options: Unpack[StepOptions],
    ) -> T | None:
        """Run `op` as a step unless `cond` holds; otherwise emit `step_skipped`, return None."""
        spec = build_spec(self._run, op, **options)
        return cast("T | None", await self._conditional(cond, False, op, None, reason, spec))

    async def when_or(
        self,
        cond: Condition,
        op: StepOp[T, E_contra]
        | ReturnsResult[T, E_contra]
        | Callable[[], ReturnsResult[T, E_contra]],
        default: D,
        *,
        reason: str | None = None,
        **options: Unpack[StepOptions],
    ) -> T | D:
        """Like `step.when`, returning `default` instead of None when skipped."""
        spec = build_spec(self._run, op, **options)
        return cast("T | D", await self._conditional(cond, True, op, default, reason, spec))

    async def unless_or(
        self,
        cond: Condition,
        op: StepOp[T, E_contra]
        | ReturnsResult[T, E_contra]
        | Callable[[], ReturnsResult[T, E_contra]],
        default: D,
        *,
        reason: str | None = None,
        **options: Unpack[StepOptions],
    ) -> T | D:
        """Like `step.unless`, returning `default` instead of None when skipped."""
        spec = build_spec(self._run, op, **options)
        return cast("T | D", await self._conditional(cond, False, op, default, reason, spec))


class SyncConditionalSteps(_ConditionalStepBase[E_contra]):
    """`SyncStep`'s conditional steps: `when`, `unless`, `when_or`, `unless_or`.

    The same steps as `ConditionalSteps` for `run_sync` bodies: the condition is a bool
    or a synchronous predicate, the op a Result or a callable returning one, and the
    options those of `SyncStep` (`SyncStepOptions`).
    """

    __slots__ = ()

    def when(
        self,
        cond: SyncCondition,
        op: Ok[T]
        | Err[E_contra]
        | Callable[[], Ok[T] | Err[E_contra]]
        | ReturnsResult[T, E_contra]
        | Callable[[], ReturnsResult[T, E_contra]],
        *,
        reason: str | None = None,
        **options: Unpack[SyncStepOptions],
    ) -> T | None:
        """Run `op` as a step if `cond` holds; otherwise emit `step_skipped`, return None."""
        spec = build_sync_spec(self._run, op, **options)
        flow = self._conditional(cond, True, op, None, reason, spec, sync=True)
        return cast("T | None", complete(flow))

    def unless(
        self,
        cond: SyncCondition,
        op: Ok[T]
        | Err[E_contra]
        | Callable[[], Ok[T] | Err[E_contra]]
        | ReturnsResult[T, E_contra]
        | Callable[[], ReturnsResult[T, E_contra]],
        *,
        reason: str | None = None,
        **options: Unpack[SyncStepOptions],
    ) -> T | None:
        """Run `op` as a step unless `cond` holds; otherwise emit `step_skipped`, return None."""
        spec = build_sync_spec(self._run, op, **options)
        flow = self._conditional(cond, False, op, None, reason, spec, sync=True)
        return cast("T | None", complete(flow))

    def when_or(
        self,
        cond: SyncCondition,
        op: Ok[T]
        | Err[E_contra]
        | Callable[[], Ok[T] | Err[E_contra]]
        | ReturnsResult[T, E_contra]
        | Callable[[], ReturnsResult[T, E_contra]],
        default: D,
        *,
        reason: str | None = None,
        **options: Unpack[SyncStepOptions],
    ) -> T | D:
        """Like `step.when`, returning `default` instead of None when skipped."""
        spec = build_sync_spec(self._run, op, **options)
        flow = self._conditional(cond, True, op, default, reason, spec, sync=True)
        return cast("T | D", complete(flow))

    def unless_or(
        self,
        cond: SyncCondition,
        op: Ok[T]
        | Err[E_contra]
        | Callable[[], Ok[T] | Err[E_contra]]
        | ReturnsResult[T, E_contra]
        | Callable[[], ReturnsResult[T, E_contra]],
        default: D,
        *,
        reason: str | None = None,
        **options: Unpack[SyncStepOptions],
    ) -> T | D:
        """Like `step.unless`, returning `default` instead of None when skipped."""
        spec = build_sync_spec(self._run, op, **options)
        flow = self._conditional(cond, False, op, default, reason, spec, sync=True)
        return cast("T | D", complete(flow))


# -- the decision ----------------------------------------------------------------------
async def _branch(
    cond: Condition,
    run_if: bool,
    thunk: Callable[[], object],
    default: object,
    skip: _Skip,
    *,
    sync: bool = False,
) -> object:
    """Run `thunk` when `cond` is `run_if`, and return its (awaited) result.

    Otherwise call `skip` (if any) and return `default`. The one implementation behind
    every conditional of this module; `sync` refuses an async predicate (`run_sync`).
    """
    if await _holds(cond, sync=sync) is run_if:
        if not callable(thunk):
            raise TypeError(f"the thunk must be a zero-argument callable, got {thunk!r}")
        value = thunk()
        return await value if inspect.isawaitable(value) else value
    if skip is not None:
        await skip()
    return default


async def _holds(cond: Condition, *, sync: bool = False) -> bool:
    """Evaluate a condition: a bool as is, a predicate called (and awaited if async)."""
    if isinstance(cond, bool):
        return cond
    if not callable(cond):
        raise TypeError(f"a condition is a bool or a zero-argument predicate, got {cond!r}")
    outcome: object = cond()
    if inspect.isawaitable(outcome):
        if sync:
            refuse_awaitable(outcome, "condition")
        outcome = await outcome
    return bool(outcome)
