"""Sagas: workflows that undo their finished steps when they fail.

```python
async def checkout(saga: SagaStep[OutOfStock | Declined], order: Order) -> Receipt:
    hold = await saga.step(lambda: reserve(order), name="reserve", compensate=release)
    paid = await saga.step(lambda: charge(order), name="charge", compensate=refund)
    return await saga.step(lambda: ship(order, hold, paid), name="ship")

result = await run_saga(checkout, order)
```

`saga.step(op, compensate=f)` is a step that, once it succeeds, registers `f(value)`
(sync or async) as its undo action. When the body exits with an Err (or raises), the
registered compensations run **in reverse order, each once**; one failing does not stop
the others. The run then returns the original Err (its `cause` kept), or
`Err(SagaCompensationFailed(error=<original>, failures=[(step_name, error), ...]))` when
some compensations failed (a raised exception appears there as an `UnexpectedError`;
a compensation that returns an `Err` fails with that error). Every compensation emits
`compensation_start` and then `compensation_success` or `compensation_error`.

Decisions:

- An exit with `PendingApproval` is a pause, not a failure (see `resultflow.hitl`):
  nothing is compensated, so the resumed run continues from its finished steps.
- Cancellation: when the saga's task is cancelled, the compensations still run to the
  end (shielded: further cancellations wait for them), then `CancelledError`
  propagates. A whole-run `timeout=` is a cancellation of the body too, so a timed-out
  saga is rolled back and returns `Err(WorkflowTimeout)`.
- A keyed step that returns from the cache (resume state) registers its compensation
  like a step that executed; a key registers one compensation even when the step runs
  (or hits the cache) several times in one run.
- `KeyboardInterrupt` and `SystemExit` propagate at once, without compensating.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Protocol,
    TypeAlias,
    TypeVar,
    cast,
    overload,
)

from typing_extensions import ParamSpec, TypeVarTuple, Unpack

from resultflow._runtime.options import StepOptions, StepOptionsWithoutRetry
from resultflow._runtime.pipeline import AnyResult, RunState, StepInfo
from resultflow._runtime.runner import RunOptions, Workflow, execute_run
from resultflow._runtime.short_circuit import find_exit
from resultflow._runtime.step import Step
from resultflow.errors import PendingApproval, SagaCompensationFailed, UnexpectedError
from resultflow.events import CompensationFailed, CompensationStarted, CompensationSucceeded
from resultflow.reliability._retry import RetryPolicy, retry_call
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from returns.result import Result as ReturnsResult

__all__ = ["Compensation", "SagaErrors", "SagaStep", "run_saga", "saga_workflow"]

T = TypeVar("T")
E = TypeVar("E")
E_contra = TypeVar("E_contra", contravariant=True)
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")

Compensation: TypeAlias = Callable[[T], object]
"""`f(value)` undoes a step: sync or async; an `Err` return or an exception is a failure."""

SagaErrors: TypeAlias = E | UnexpectedError | SagaCompensationFailed[E | UnexpectedError]
"""The error union of a saga whose body declares `SagaStep[E]`."""

_ONE_ATTEMPT = RetryPolicy(attempts=1)


@dataclass(frozen=True, slots=True)
class _Undo:
    """A registered compensation: what to call, with which value, and how to retry it."""

    name: str
    key: str | None
    compensate: Callable[[Any], object]
    value: object
    retry: RetryPolicy


class SagaStep(Step[E_contra]):
    """A `Step` that also records how to undo each step: `await saga.step(op, compensate=f)`.

    Everything a `Step` does works here too (`saga(op)`, `saga.all(...)`,
    `saga.map(...)`, ...); only steps run through `saga.step` or `saga.try_` with a
    `compensate=` are undone on failure.
    """

    __slots__ = ("_undo",)

    def __init__(self, run: RunState) -> None:
        super().__init__(run)
        self._undo: list[_Undo] = []

    @classmethod
    def from_step(cls, step: Step[Any]) -> SagaStep[Any]:
        """A saga step sharing the run of `step` (for bodies started by `run`)."""
        return cls(step._run)

    @classmethod
    def as_body(cls, body: Callable[..., Awaitable[object]]) -> Callable[..., Awaitable[object]]:
        """Wrap a saga body `body(saga, *args)` into a plain runner body `(step, *args)`.

        `run_saga` and `saga_workflow` use it; so can other runners (the durable engine).
        """

        async def saga_body(step: Step[Any], *args: object, **kwargs: object) -> object:
            saga = cls.from_step(step)
            run = saga._run
            try:
                return await body(saga, *args, **kwargs)
            except asyncio.CancelledError:
                await saga._rollback()
                raise
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                original = _failure_of(run, exc)
                if original is None or isinstance(original.error, PendingApproval):
                    raise
                failures, cancelled = await saga._rollback()
                if cancelled:
                    raise asyncio.CancelledError from exc
                if not failures:
                    raise
                error = SagaCompensationFailed(error=original.error, failures=failures)
                raise run.exit(Err(error, original.cause)) from None

        functools.update_wrapper(saga_body, body)
        return saga_body

    @property
    def compensations(self) -> list[str]:
        """Names of the registered compensations, in the order their steps finished."""
        return [undo.name for undo in self._undo]

    # -- compensable steps ----------------------------------------------------------------
    @overload
    async def step(
        self,
        op: Callable[[], Awaitable[Ok[T] | Err[E_contra]]],
        *,
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def step(
        self,
        op: Callable[[], Ok[T] | Err[E_contra]],
        *,
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def step(
        self,
        op: Ok[T] | Err[E_contra],
        *,
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def step(
        self,
        op: Awaitable[Ok[T] | Err[E_contra]],
        *,
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptionsWithoutRetry],
    ) -> T: ...

    @overload
    async def step(
        self,
        op: ReturnsResult[T, E_contra] | Callable[[], ReturnsResult[T, E_contra]],
        *,
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> T: ...

    async def step(
        self,
        op: object,
        *,
        compensate: Compensation[Any] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> object:
        """Run `op` like `step(op, **options)`; once it succeeds, register `compensate(value)`.

        `compensate_retry` (attempts or a `RetryPolicy`) retries a failing compensation
        through the run's clock.
        """
        retry_policy = self._check_compensation(compensate, compensate_retry)
        runner: Any = super().__call__
        value: object = await runner(op, **options)
        if compensate is not None:
            self._register(compensate, value, options, retry_policy)
        return value

    @overload
    async def try_(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        error: E_contra,
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def try_(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        on_error: Callable[[Exception], E_contra],
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def try_(
        self,
        fn: Callable[[], T],
        *,
        error: E_contra,
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def try_(
        self,
        fn: Callable[[], T],
        *,
        on_error: Callable[[Exception], E_contra],
        compensate: Compensation[T] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> T: ...

    async def try_(
        self,
        fn: Callable[[], object],
        *,
        error: object = None,
        on_error: Callable[[Exception], object] | None = None,
        compensate: Compensation[Any] | None = None,
        compensate_retry: int | RetryPolicy | None = None,
        **options: Unpack[StepOptions],
    ) -> object:
        """Run a raising function like `step.try_`; once it succeeds, register `compensate`."""
        retry_policy = self._check_compensation(compensate, compensate_retry)
        base: Any = super().try_
        mapping: dict[str, object] = {"on_error": on_error} if on_error else {"error": error}
        value: object = await base(fn, **mapping, **options)
        if compensate is not None:
            self._register(compensate, value, options, retry_policy)
        return value

    # -- rolling back ------------------------------------------------------------------
    async def compensate(self) -> list[tuple[str, object]]:
        """Run the registered compensations now, newest first, each once; return failures.

        The runner calls this when the body fails; call it yourself only to roll back
        by hand. Compensations that ran are forgotten, so none ever runs twice.
        """
        failures: list[tuple[str, object]] = []
        while self._undo:
            undo = self._undo.pop()
            result = await self._compensate_one(undo)
            if isinstance(result, Err):
                failures.append((undo.name, result.error))
        return failures

    async def _rollback(self) -> tuple[list[tuple[str, object]], bool]:
        """Compensate in a shielded task; return the failures and whether we were cancelled."""
        task = asyncio.ensure_future(self.compensate())
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
        if task.cancelled():
            return [], True
        return task.result(), cancelled

    async def _compensate_one(self, undo: _Undo) -> AnyResult:
        ctx = self._run.ctx
        listening = ctx.on_event is not None
        comp_id = ctx.new_step_id() if listening else None
        if listening:
            await ctx.emit(
                CompensationStarted(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    name=undo.name,
                    step_id=comp_id,
                )
            )
        started = ctx.clock.monotonic()

        async def attempt() -> AnyResult:
            outcome = undo.compensate(undo.value)
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if isinstance(outcome, Err):
                return cast("Err[object]", outcome)
            return Ok(None)

        def proceed() -> Awaitable[AnyResult]:
            return retry_call(attempt, undo.retry, clock=ctx.clock, name=undo.name)

        interceptor = self._run.interceptor
        if interceptor is None:
            result: AnyResult = await proceed()
        else:
            # The durable engine records each compensation like a step (it stands in at
            # the interceptor), so a crash in the middle of a rollback repeats no undo.
            info = StepInfo(comp_id or "", f"compensate:{undo.name}", None)
            result = await interceptor(info, attempt, proceed)
        if listening:
            duration = ctx.clock.monotonic() - started
            fields = {
                "workflow_id": ctx.workflow_id,
                "ts": ctx.now(),
                "context": ctx.context,
                "name": undo.name,
                "duration_s": duration,
                "step_id": comp_id,
            }
            if isinstance(result, Err):
                await ctx.emit(CompensationFailed(**fields, error=result.error))  # type: ignore[arg-type]
            else:
                await ctx.emit(CompensationSucceeded(**fields))  # type: ignore[arg-type]
        return result

    # -- internals ------------------------------------------------------------------------
    def _check_compensation(
        self, compensate: object, compensate_retry: int | RetryPolicy | None
    ) -> RetryPolicy:
        if compensate is not None and not callable(compensate):
            raise TypeError(
                f"compensate= must be a callable taking the step's value, "
                f"not {type(compensate).__name__}"
            )
        if compensate_retry is None:
            return _ONE_ATTEMPT
        if compensate is None:
            raise TypeError("compensate_retry= needs a compensate= function to retry")
        return RetryPolicy.coerce(compensate_retry)

    def _register(
        self,
        compensate: Callable[[Any], object],
        value: object,
        options: StepOptions,
        retry: RetryPolicy,
    ) -> None:
        # The step's own name and key, as given (a policy's name does not label the undo).
        name, key = options.get("name"), options.get("key")
        if key is not None and any(undo.key == key for undo in self._undo):
            return  # the same keyed step again (a cache hit): its effect happened once
        label = name or key or f"step {len(self._undo) + 1}"
        self._undo.append(_Undo(label, key, compensate, value, retry))


# -- run_saga ---------------------------------------------------------------------------
async def run_saga(
    body: Callable[[SagaStep[E], *Ts], Awaitable[T]],
    /,
    *args: *Ts,
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[SagaErrors[E]]:
    """Run `body(saga, *args)` like `run`, compensating the finished steps if it fails.

    Returns `Ok(value)`, the original Err when every compensation succeeded, or
    `Err(SagaCompensationFailed(error, failures))` when some failed. Options are the
    same as `run`'s.
    """
    return await execute_run(SagaStep.as_body(body), tuple(args), {}, None, options)  # type: ignore[return-value]


def _failure_of(run: RunState, exc: BaseException) -> Err[object] | None:
    """The Err the run would end with because of `exc` (None when `exc` must propagate)."""
    found = find_exit(exc, run.token)
    if found is not None:
        return found.result
    if isinstance(exc, Exception):
        return run.unexpected(exc, None)
    return None


# -- saga_workflow ----------------------------------------------------------------------
class _SagaWorkflowDecorator(Protocol):
    def __call__(
        self, body: Callable[Concatenate[SagaStep[E], P], Awaitable[T]], /
    ) -> Workflow[P, T, SagaErrors[E]]: ...


@overload
def saga_workflow(
    body: Callable[Concatenate[SagaStep[E], P], Awaitable[T]], /
) -> Workflow[P, T, SagaErrors[E]]: ...


@overload
def saga_workflow(**options: Unpack[RunOptions]) -> _SagaWorkflowDecorator: ...


def saga_workflow(
    body: Callable[..., Awaitable[object]] | None = None,
    /,
    **options: Unpack[RunOptions],
) -> object:
    """Turn a saga body into a reusable typed `Workflow` (`@saga_workflow` or with options).

    `await checkout(order)` returns `Result[T, E | UnexpectedError |
    SagaCompensationFailed[...]]`, compensating like `run_saga`.
    """

    def decorate(fn: Callable[..., Awaitable[object]]) -> Workflow[Any, Any, Any]:
        return Workflow[Any, Any, Any](SagaStep.as_body(fn), catch_unexpected=None, options=options)

    if body is not None:
        return decorate(body)
    return decorate
