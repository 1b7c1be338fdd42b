"""`SyncStep[E]`: the step runner of a synchronous body, and its step pipeline.

The twin of `Step` for `run_sync`: the same order of cache lookup, hooks, events,
retries (sleeping through `clock.sleep_sync`) and completion as the async pipeline,
sharing its retry plan and completion record. The concurrent and timeout variants exist
only on the async `Step`.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import (
    TYPE_CHECKING,
    Any,
    Literal,
    NoReturn,
    TypeAlias,
    TypeVar,
    cast,
    overload,
)

from resultflow._runtime.pipeline import AnyResult, RunState, StepBase, StepInfo, StepSpec
from resultflow._runtime.short_circuit import StepExit
from resultflow.cache import AnyStepCache, CacheEntry
from resultflow.events import (
    HookAfterStep,
    HookAfterStepError,
    HookBeforeStepError,
    StepAborted,
    StepCacheHit,
    StepCacheMiss,
    StepCompleted,
    StepFailed,
    StepStarted,
    StepSucceeded,
)
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from returns.result import Result as ReturnsResult

    from resultflow.reliability._retry import RetryPolicy

__all__ = ["SyncStep", "execute_sync", "require_sync"]

T = TypeVar("T")
F = TypeVar("F")
E_contra = TypeVar("E_contra", contravariant=True)

Backoff: TypeAlias = Literal["exponential", "linear", "fixed"]


class SyncStep(StepBase[E_contra]):
    """The step runner of a synchronous body; `E` is the body's error union.

    Its `context` is the run's context; listeners are called with `emit_sync`.
    """

    __slots__ = ()

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
            from resultflow.reliability._retry import RetryPolicy

            retry_policy = RetryPolicy.coerce(retry)
        spec = StepSpec(key=key, name=name, retry=retry_policy, ttl=ttl)
        result = execute_sync(run, op, spec)
        if type(result) is Ok:
            return result.value
        raise run.exit(result)

    # -- variants -------------------------------------------------------------------
    @overload
    def try_(
        self,
        fn: Callable[[], T],
        *,
        error: E_contra,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
    ) -> T: ...

    @overload
    def try_(
        self,
        fn: Callable[[], T],
        *,
        on_error: Callable[[Exception], E_contra],
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
    ) -> T: ...

    def try_(
        self,
        fn: Callable[[], object],
        *,
        error: object = None,
        on_error: Callable[[Exception], object] | None = None,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
    ) -> object:
        """Run a function that raises: its exceptions become `Err(error)` / `Err(on_error(exc))`."""
        if not callable(fn):
            raise TypeError("step.try_ needs a zero-argument callable")

        def op() -> AnyResult:
            try:
                value = fn()
            except Exception as exc:
                return Err(on_error(exc) if on_error is not None else error, exc)
            return Ok(value)

        return self(cast("Any", op), key=key, name=name, retry=retry)

    def from_result(
        self,
        fn: Ok[T] | Err[F] | Callable[[], Ok[T] | Err[F]],
        *,
        on_error: Callable[[F], E_contra],
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
    ) -> T:
        """Run a Result-returning op and map its error into the body's error union.

        Exceptions never reach `on_error`: they end the run as an `UnexpectedError`.
        """
        mapper = cast("Callable[[object], object]", on_error)

        def op() -> object:
            # `object`: at run time `fn` may also give a returns Result.
            value = cast("object", fn() if callable(fn) else fn)
            if type(value) is Err:
                failed = cast("Err[object]", value)
                return Err(mapper(failed.error), failed.cause)
            if "returns.result" in sys.modules:  # see `returns` in step_ops
                from returns.result import Failure

                if isinstance(value, Failure):
                    failure: object = cast("Failure[object]", value).failure()
                    cause = failure if isinstance(failure, BaseException) else None
                    return Err(mapper(failure), cause)
            return value

        value: T = self(cast("Any", op), key=key, name=name, retry=retry)
        return value

    def retry(
        self,
        fn: Callable[[], Ok[T] | Err[E_contra]],
        attempts: int = 3,
        backoff: Backoff = "exponential",
        *,
        initial: float = 0.1,
        max_delay: float = 30.0,
        jitter: bool | float = True,
        retry_on: Callable[[object], bool] | None = None,
        key: str | None = None,
        name: str | None = None,
    ) -> T:
        """Shorthand for `step(fn, retry=RetryPolicy(attempts, backoff, ...))`."""
        from resultflow.reliability._retry import RetryPolicy

        policy = RetryPolicy(
            attempts=attempts,
            backoff=backoff,
            initial=initial,
            max_delay=max_delay,
            jitter=jitter,
            retry_on=retry_on,
        )
        return self(fn, retry=policy, key=key, name=name)

    def sleep(self, seconds: float, *, key: str | None = None, name: str = "sleep") -> None:
        """Sleep through the run's clock (`clock.sleep_sync`), as a step of its own."""
        clock = self._run.ctx.clock

        def sleeping() -> Ok[None]:
            clock.sleep_sync(seconds)
            return Ok(None)

        self(sleeping, key=key, name=name)

    def fail(self, error: E_contra) -> NoReturn:
        """Exit the body now with `Err(error)`."""
        raise self._run.exit(Err(error))


# -- the synchronous pipeline ------------------------------------------------------------
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
    try:
        result = _attempts(run, op, spec, step_id)
    except BaseException as exc:
        if listening and not isinstance(exc, GeneratorExit):
            reason = "a nested step exited the run" if isinstance(exc, StepExit) else None
            ctx.emit_sync(
                StepAborted(**fields(step_id, name, key, None), reason=reason or type(exc).__name__)
            )
        raise
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
        require_sync(hook(info, ctx.context), "on_before_step")
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
        outcome = require_sync(hook(key, result, ctx.workflow_id, ctx.context), "on_after_step")
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


def require_sync(value: object, what: str) -> object:
    """Return `value`, or raise TypeError if a hook of `run_sync` returned an awaitable.

    A coroutine is closed first, so Python does not also warn that it was never awaited.
    """
    if inspect.isawaitable(value):
        if inspect.iscoroutine(value):
            value.close()
        raise TypeError(f"run_sync needs a synchronous {what} (it returned an awaitable)")
    return value
