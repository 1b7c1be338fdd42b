"""The synchronous twins: `run_sync`, `SyncStep` and `@workflow_sync`.

Same semantics as `run` for sequential steps (keys, cache, resume state, retries that
sleep through `clock.sleep_sync`, events, hooks), for code bases without asyncio. The
concurrent and timeout variants exist only on the async `Step`. Listeners, hooks and
caches must be synchronous here.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    NoReturn,
    Protocol,
    TypeVar,
    cast,
    overload,
)

from returns.result import Result as ReturnsResult
from typing_extensions import ParamSpec, TypeVarTuple, Unpack

from resultflow.cache import AnyStepCache, CacheEntry, MemoryCache, StepCache
from resultflow.clock import SYSTEM_CLOCK
from resultflow.context import RunContext
from resultflow.errors import Skipped, UnexpectedError
from resultflow.events import (
    HookAfterStep,
    HookAfterStepError,
    HookBeforeStart,
    HookBeforeStartError,
    HookBeforeStepError,
    HookShouldRun,
    HookShouldRunError,
    StepCacheHit,
    StepCacheMiss,
    StepCompleted,
    StepFailed,
    StepStarted,
    StepSucceeded,
    WorkflowFailed,
    WorkflowSkipped,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.pipeline import AnyResult, RunState, StepInfo, StepSpec
from resultflow.result import Err, Ok
from resultflow.runner import RunOptions
from resultflow.short_circuit import find_exit

if TYPE_CHECKING:
    from resultflow.retry import RetryPolicy

__all__ = ["SyncStep", "SyncWorkflow", "run_sync", "workflow_sync"]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
F = TypeVar("F")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U_co = TypeVar("U_co", covariant=True)
E_contra = TypeVar("E_contra", contravariant=True)
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")


class SyncStep(Generic[E_contra]):
    """The step runner of a synchronous body; `E` is the body's error union."""

    __slots__ = ("_run",)

    def __init__(self, run: RunState) -> None:
        self._run = run

    @property
    def context(self) -> RunContext:
        """The run's context: `workflow_id`, the user `context`, the clock."""
        return self._run.ctx

    @overload
    def __call__(
        self,
        op: Ok[T] | Err[E_contra] | Callable[[], Ok[T] | Err[E_contra]],
        *,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        ttl: float | None = None,
    ) -> T: ...

    @overload
    def __call__(
        self,
        op: ReturnsResult[T, E_contra] | Callable[[], ReturnsResult[T, E_contra]],
        *,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        ttl: float | None = None,
    ) -> T: ...

    def __call__(
        self,
        op: object,
        *,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        ttl: float | None = None,
    ) -> object:
        run = self._run
        retry_policy = None
        if retry is not None:
            from resultflow.retry import RetryPolicy

            retry_policy = RetryPolicy.coerce(retry)
        spec = StepSpec(key=key, name=name, retry=retry_policy, ttl=ttl)
        result = execute_sync(run, op, spec)
        if type(result) is Ok:
            return result.value
        raise run.exit(result)

    def try_(
        self,
        fn: Callable[[], T],
        *,
        error: E_contra,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
    ) -> T:
        """Run a function that raises; its exceptions become `Err(error)`."""

        def op() -> AnyResult:
            try:
                return Ok(fn())
            except Exception as exc:
                return Err(error, exc)

        value: T = self(cast("Any", op), key=key, name=name, retry=retry)
        return value

    def fail(self, error: E_contra) -> NoReturn:
        """Exit the body now with `Err(error)`."""
        raise self._run.exit(Err(error))


def execute_sync(run: RunState, op: object, spec: StepSpec) -> AnyResult:
    """Run one step synchronously: cache, hooks, events, retries."""
    ctx = run.ctx
    listening = ctx.on_event is not None
    step_id = ctx.new_step_id()
    key, name = spec.key, spec.name
    fields = run.step_fields
    cache = run.cache
    if key is not None and cache is not None:
        entry = _cache_get(cache, key)
        if entry is not None:
            if listening:
                ctx.emit_sync(StepCacheHit(**fields(step_id, name, key, None)))
            return entry.result
        if listening:
            ctx.emit_sync(StepCacheMiss(**fields(step_id, name, key, None)))
    if run.on_before_step is not None:
        _before_step(run, StepInfo(step_id, name, key))
    if listening:
        ctx.emit_sync(StepStarted(**fields(step_id, name, key, None)))
    started = ctx.clock.monotonic()
    result = _attempts(run, op, spec, step_id)
    duration = ctx.clock.monotonic() - started
    if listening:
        if type(result) is Ok:
            ctx.emit_sync(
                StepSucceeded(
                    **fields(step_id, name, key, None), value=result.value, duration_s=duration
                )
            )
        else:
            ctx.emit_sync(
                StepFailed(
                    **fields(step_id, name, key, None), error=result.error, duration_s=duration
                )
            )
    if key is not None:
        _complete(run, key, result, spec, step_id, duration)
    return result


def _once(run: RunState, op: object, label: str | None) -> AnyResult:
    try:
        value: object = op() if callable(op) else op
    except Exception as exc:
        return run.unexpected(exc, label)
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        problem = TypeError(f"step {label!r} returned an awaitable; run_sync needs sync ops")
        return run.unexpected(problem, label)
    return run.to_result(value, label)


def _attempts(run: RunState, op: object, spec: StepSpec, step_id: str) -> AnyResult:
    label = spec.name or spec.key or step_id
    clock = run.ctx.clock
    first_started = clock.monotonic()
    attempt = 0
    while True:
        attempt += 1
        result = _once(run, op, label)
        delay, event = run.plan_retry(spec, result, attempt, first_started, step_id, None)
        if event is not None:
            run.ctx.emit_sync(event)
        if delay is None:
            return result
        clock.sleep_sync(delay)


def _before_step(run: RunState, info: StepInfo) -> None:
    hook = run.on_before_step
    assert hook is not None
    ctx = run.ctx
    started = ctx.clock.monotonic()
    try:
        hook(info, ctx.context)
    except Exception as exc:
        if ctx.on_event is not None:
            ctx.emit_sync(
                HookBeforeStepError(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    step_id=info.step_id,
                    duration_s=ctx.clock.monotonic() - started,
                    error=exc,
                )
            )
        raise run.exit(run.unexpected(exc, "on_before_step")) from exc


def _complete(
    run: RunState, key: str, result: AnyResult, spec: StepSpec, step_id: str, duration: float
) -> None:
    ctx = run.ctx
    meta = run.completion_meta(step_id, spec, duration)
    if run.cache is not None:
        run.cache.set(key, CacheEntry(result, meta), spec.ttl)
    if ctx.on_event is not None:
        ctx.emit_sync(
            StepCompleted(
                **run.step_fields(step_id, spec.name, key, None),
                result=result,
                meta=meta,
            )
        )
    hook = run.on_after_step
    if hook is None:
        return
    started = ctx.clock.monotonic()
    common: dict[str, Any] = {"workflow_id": ctx.workflow_id, "context": ctx.context, "key": key}
    try:
        outcome = hook(key, result, ctx.workflow_id, ctx.context)
    except Exception as exc:
        if ctx.on_event is not None:
            ctx.emit_sync(
                HookAfterStepError(
                    **common, ts=ctx.now(), duration_s=ctx.clock.monotonic() - started, error=exc
                )
            )
        raise run.exit(run.unexpected(exc, "on_after_step")) from exc
    if ctx.on_event is not None:
        ctx.emit_sync(
            HookAfterStep(
                **common, ts=ctx.now(), duration_s=ctx.clock.monotonic() - started, result=outcome
            )
        )


def _cache_get(cache: AnyStepCache, key: str) -> CacheEntry | None:
    found: object = cache.get(key)
    if inspect.isawaitable(found):
        if inspect.iscoroutine(found):
            found.close()
        raise TypeError("run_sync needs a synchronous StepCache (got an async one)")
    return found if isinstance(found, CacheEntry) else None


# -- run_sync ---------------------------------------------------------------------------
@overload
def run_sync(
    body: Callable[[SyncStep[E], *Ts], T],
    /,
    *args: *Ts,
    catch_unexpected: None = None,
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[E | UnexpectedError]: ...


@overload
def run_sync(
    body: Callable[[SyncStep[E], *Ts], T],
    /,
    *args: *Ts,
    catch_unexpected: Callable[[Exception], U],
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[E | U]: ...


def run_sync(
    body: Callable[..., object],
    /,
    *args: object,
    catch_unexpected: Callable[[Exception], object] | None = None,
    **options: Unpack[RunOptions],
) -> AnyResult:
    """Run a synchronous `body(step, *args)`; the twin of `run` without asyncio."""
    return execute_run_sync(body, args, {}, catch_unexpected, options)


def execute_run_sync(
    body: Callable[..., object],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    catch_unexpected: Callable[[Exception], object] | None,
    options: RunOptions,
) -> AnyResult:
    """The shared implementation of `run_sync` and `SyncWorkflow.__call__`."""
    for unsupported in ("timeout", "interceptor"):
        if unsupported in options:
            raise TypeError(f"run_sync does not support {unsupported}=; use the async run")
    clock = options.get("clock") or SYSTEM_CLOCK
    ctx = RunContext(
        options.get("workflow_id") or str(uuid.uuid4()),
        context=options.get("context"),
        clock=clock,
        on_event=options.get("on_event"),
        name=options.get("name") or getattr(body, "__qualname__", None),
    )
    run = RunState(ctx, catch_unexpected=catch_unexpected)
    refused = _prepare_sync(run, options)
    if refused is not None:
        return refused
    listening = ctx.on_event is not None
    if listening:
        ctx.emit_sync(
            WorkflowStarted(
                workflow_id=ctx.workflow_id, ts=ctx.now(), context=ctx.context, name=ctx.name
            )
        )
    started = clock.monotonic()
    try:
        result: AnyResult = Ok(body(SyncStep(run), *args, **kwargs))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        found = find_exit(exc, run.token)
        if found is not None:
            result = found.result
        elif isinstance(exc, Exception):
            result = run.unexpected(exc, None)
        else:
            raise
    if listening:
        duration = clock.monotonic() - started
        if type(result) is Ok:
            ctx.emit_sync(
                WorkflowSucceeded(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    duration_s=duration,
                    value=result.value,
                )
            )
        else:
            ctx.emit_sync(
                WorkflowFailed(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    duration_s=duration,
                    error=result.error,
                )
            )
    return result


def _prepare_sync(run: RunState, options: RunOptions) -> AnyResult | None:
    ctx = run.ctx
    create_context = options.get("create_context")
    try:
        if create_context is not None:
            ctx.context = create_context()
    except Exception as exc:
        return run.unexpected(exc, "create_context")
    gates = (
        ("should_run", options.get("should_run")),
        ("on_before_start", options.get("on_before_start")),
    )
    for option, hook in gates:
        if hook is None:
            continue
        started = ctx.clock.monotonic()
        try:
            answer = hook(ctx.workflow_id, ctx.context)
        except Exception as exc:
            if ctx.on_event is not None:
                error_event = HookShouldRunError if option == "should_run" else HookBeforeStartError
                ctx.emit_sync(
                    error_event(
                        workflow_id=ctx.workflow_id,
                        ts=ctx.now(),
                        context=ctx.context,
                        duration_s=ctx.clock.monotonic() - started,
                        error=exc,
                    )
                )
            return run.unexpected(exc, option)
        if ctx.on_event is not None:
            event = HookShouldRun if option == "should_run" else HookBeforeStart
            ctx.emit_sync(
                event(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    duration_s=ctx.clock.monotonic() - started,
                    result=answer,
                )
            )
        if not answer:
            if ctx.on_event is not None:
                ctx.emit_sync(
                    WorkflowSkipped(
                        workflow_id=ctx.workflow_id,
                        ts=ctx.now(),
                        context=ctx.context,
                        reason=option,
                    )
                )
            return Err(Skipped(reason=option))
    cache: StepCache | None = options.get("cache")  # type: ignore[assignment]
    resume = options.get("resume_state")
    if resume is not None:
        try:
            entries = resume() if callable(resume) else resume
            if inspect.isawaitable(entries):
                raise TypeError("run_sync needs a synchronous resume_state loader")
        except Exception as exc:
            return run.unexpected(exc, "resume_state")
        cache = cache if cache is not None else MemoryCache(max_size=None)
        for key, entry in entries.items():
            cache.set(key, entry)
    run.cache = cache
    run.on_after_step = options.get("on_after_step")
    run.on_before_step = options.get("on_before_step")
    return None


# -- workflow_sync -------------------------------------------------------------------------
class SyncWorkflow(Generic[P, T_co, E_co]):
    """A reusable synchronous workflow: `wf(*args)` returns `Result[T, E]`."""

    def __init__(
        self,
        body: Callable[..., object],
        *,
        catch_unexpected: Callable[[Exception], object] | None,
        options: RunOptions,
    ) -> None:
        self.body = body
        self.catch_unexpected = catch_unexpected
        self.options = options
        self.name = str(options.get("name") or getattr(body, "__qualname__", repr(body)))
        self.__doc__ = getattr(body, "__doc__", None)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Ok[T_co] | Err[E_co]:
        """Run the workflow with these arguments."""
        options: RunOptions = {"name": self.name, **self.options}
        return execute_run_sync(self.body, args, kwargs, self.catch_unexpected, options)  # type: ignore[return-value]

    def with_options(self, **options: Unpack[RunOptions]) -> SyncWorkflow[P, T_co, E_co]:
        """A copy with per-call options merged in."""
        merged: RunOptions = {**self.options, **options}
        return SyncWorkflow(self.body, catch_unexpected=self.catch_unexpected, options=merged)

    def __repr__(self) -> str:
        return f"<SyncWorkflow {self.name}>"


class _SyncDecorator(Protocol):
    def __call__(
        self, body: Callable[Concatenate[SyncStep[E], P], T], /
    ) -> SyncWorkflow[P, T, E | UnexpectedError]: ...


class _StrictSyncDecorator(Protocol[U_co]):
    def __call__(
        self, body: Callable[Concatenate[SyncStep[E], P], T], /
    ) -> SyncWorkflow[P, T, E | U_co]: ...


@overload
def workflow_sync(
    body: Callable[Concatenate[SyncStep[E], P], T], /
) -> SyncWorkflow[P, T, E | UnexpectedError]: ...


@overload
def workflow_sync(
    *, catch_unexpected: None = None, **options: Unpack[RunOptions]
) -> _SyncDecorator: ...


@overload
def workflow_sync(
    *, catch_unexpected: Callable[[Exception], U], **options: Unpack[RunOptions]
) -> _StrictSyncDecorator[U]: ...


def workflow_sync(
    body: Callable[..., object] | None = None,
    /,
    *,
    catch_unexpected: Callable[[Exception], object] | None = None,
    **options: Unpack[RunOptions],
) -> object:
    """The synchronous `@workflow`."""
    if body is not None:
        return SyncWorkflow[Any, Any, Any](body, catch_unexpected=None, options={})

    def decorate(fn: Callable[..., object]) -> SyncWorkflow[Any, Any, Any]:
        return SyncWorkflow[Any, Any, Any](fn, catch_unexpected=catch_unexpected, options=options)

    return decorate
