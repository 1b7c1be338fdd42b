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
    Any,
    Concatenate,
    Generic,
    Protocol,
    TypeVar,
    cast,
    overload,
)

from typing_extensions import ParamSpec, TypeVarTuple, Unpack

from resultflow._runtime.context import RunContext
from resultflow._runtime.pipeline import AnyResult, RunState
from resultflow._runtime.runner import RunOptions, check_options
from resultflow._runtime.short_circuit import find_exit
from resultflow._runtime.sync_step import SyncStep, require_sync
from resultflow.cache import CacheEntry, MemoryCache, StepCache
from resultflow.clock import SYSTEM_CLOCK
from resultflow.errors import Skipped, UnexpectedError
from resultflow.events import (
    HookBeforeStart,
    HookBeforeStartError,
    HookShouldRun,
    HookShouldRunError,
    WorkflowCancelled,
    WorkflowFailed,
    WorkflowSkipped,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.result import Err, Ok
from resultflow.resume import ResumeState

__all__ = ["SyncStep", "SyncWorkflow", "run_sync", "workflow_sync"]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U_co = TypeVar("U_co", covariant=True)
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")


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
    check_options(options, "run_sync")
    for unsupported in ("timeout", "interceptor", "policy", "policies"):
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
        result = _run_body(run, body, args, kwargs)
    except BaseException as exc:
        _ended_without_result(run, started, exc)
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


def _run_body(
    run: RunState, body: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
) -> AnyResult:
    """Call the body; its exit signal and its exceptions become the run's Err."""
    try:
        value = body(SyncStep(run), *args, **kwargs)
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()
            name = getattr(body, "__qualname__", None) or repr(body)
            raise TypeError(
                f"the body of run_sync() must be a plain function; {name} returned an "
                "awaitable (use the async run for an async def body)"
            )
        return Ok(value)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        found = find_exit(exc, run.token)
        if found is not None:
            return found.result
        if isinstance(exc, Exception):
            return run.unexpected(exc, None)
        raise


def _ended_without_result(run: RunState, started: float, exc: BaseException) -> None:
    """Emit `workflow_cancelled` when an exception passes through `run_sync` (as `run` does)."""
    ctx = run.ctx
    if ctx.on_event is None or isinstance(exc, GeneratorExit):
        return
    if exc is run.mapper_failure:
        reason = f"catch_unexpected raised {type(exc).__name__}: {exc}"
    else:
        reason = f"{type(exc).__name__} passed through the run"
    ctx.emit_sync(
        WorkflowCancelled(
            workflow_id=ctx.workflow_id,
            ts=ctx.now(),
            context=ctx.context,
            duration_s=ctx.clock.monotonic() - started,
            reason=reason,
        )
    )


def _prepare_sync(run: RunState, options: RunOptions) -> AnyResult | None:
    ctx = run.ctx
    create_context = options.get("create_context")
    try:
        if create_context is not None:
            ctx.context = require_sync(create_context(), "create_context")
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
            answer = require_sync(hook(ctx.workflow_id, ctx.context), option)
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
        cache = cache if cache is not None else MemoryCache(max_size=None)
        try:
            _load_resume(cache, resume() if callable(resume) else resume)
        except Exception as exc:
            return run.unexpected(exc, "resume_state")
    run.cache = cache
    run.on_after_step = options.get("on_after_step")
    run.on_before_step = options.get("on_before_step")
    return None


def _load_resume(cache: StepCache, entries: object) -> None:
    """Put resume entries into the cache; the loader and the cache must be synchronous."""
    if inspect.isawaitable(entries):
        if inspect.iscoroutine(entries):
            entries.close()
        raise TypeError("run_sync needs a synchronous resume_state loader")
    for key, entry in cast("ResumeState", entries).items():
        if not isinstance(cast("object", entry), CacheEntry):
            raise TypeError(f"resume_state[{key!r}] is {type(entry).__name__}, not a ResumeEntry")
        setter: Callable[[str, CacheEntry], object] = cache.set
        done = setter(key, entry)
        if inspect.isawaitable(done):
            if inspect.iscoroutine(done):
                done.close()
            raise TypeError("run_sync needs a synchronous StepCache (got an async one)")


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
    check_options(options, "workflow_sync")

    def decorate(fn: Callable[..., object]) -> SyncWorkflow[Any, Any, Any]:
        return SyncWorkflow[Any, Any, Any](fn, catch_unexpected=catch_unexpected, options=options)

    return decorate
