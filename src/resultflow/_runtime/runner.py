"""`run` and `@workflow`: execute a body whose steps unwrap Results or exit early.

```python
async def transfer(step: Step[NotFound | Declined], src: str, amount: int) -> Receipt:
    user = await step(lambda: get_user(src), key=f"user:{src}")
    return await step(lambda: charge(user, amount), name="charge")

result = await run(transfer, "alice", 10)   # Result[Receipt, NotFound | Declined | UnexpectedError]
```

Nothing raises out of `run` except `asyncio.CancelledError` (after a
`workflow_cancelled` event), `KeyboardInterrupt` / `SystemExit`, and an exception from
the user's own `catch_unexpected` mapper.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Protocol,
    TypedDict,
    TypeVar,
    cast,
    overload,
)

from typing_extensions import ParamSpec, TypeVarTuple, Unpack

from resultflow._runtime.context import EventSink, RunContext, run_context_var
from resultflow._runtime.pipeline import (
    AfterStepHook,
    AnyResult,
    BeforeStepHook,
    RunState,
    StepInterceptor,
)
from resultflow._runtime.short_circuit import find_exit
from resultflow._runtime.step import Step
from resultflow.cache import AnyStepCache, CacheEntry, MemoryCache
from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import Skipped, UnexpectedError, WorkflowTimeout
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
from resultflow.reliability._timeout import EXPIRED, within
from resultflow.result import Err, Ok
from resultflow.resume import ResumeState

if TYPE_CHECKING:
    from resultflow.reliability._policies import Policy

__all__ = ["RunOptions", "Workflow", "run", "workflow"]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)
U_co = TypeVar("U_co", covariant=True)
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")

RunHook = Callable[[str, Any], bool | Awaitable[bool]]
ResumeSource = ResumeState | Callable[[], ResumeState | Awaitable[ResumeState]]


class RunOptions(TypedDict, total=False):
    """Keyword options of `run`, `@workflow` and `Workflow.with_options`."""

    workflow_id: str
    name: str
    on_event: EventSink
    cache: AnyStepCache
    resume_state: ResumeSource
    context: object
    create_context: Callable[[], object]
    should_run: RunHook
    on_before_start: RunHook
    on_after_step: AfterStepHook
    on_before_step: BeforeStepHook
    clock: Clock
    policy: Policy
    policies: Sequence[Policy]
    timeout: float
    interceptor: StepInterceptor


# -- run ----------------------------------------------------------------------------
@overload
async def run(
    body: Callable[[Step[E], *Ts], Awaitable[T]],
    /,
    *args: *Ts,
    catch_unexpected: None = None,
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[E | UnexpectedError]: ...


@overload
async def run(
    body: Callable[[Step[E], *Ts], Awaitable[T]],
    /,
    *args: *Ts,
    catch_unexpected: Callable[[Exception], U],
    **options: Unpack[RunOptions],
) -> Ok[T] | Err[E | U]: ...


async def run(
    body: Callable[..., Awaitable[object]],
    /,
    *args: object,
    catch_unexpected: Callable[[Exception], object] | None = None,
    **options: Unpack[RunOptions],
) -> AnyResult:
    """Run `body(step, *args)`; return `Ok(its value)` or the Err that stopped it.

    Options are keyword-only (see `RunOptions`). With `catch_unexpected=f`, exceptions
    become `Err(f(exc))` instead of `Err(UnexpectedError)`.
    """
    return await execute_run(body, args, {}, catch_unexpected, options)


async def execute_run(
    body: Callable[..., Awaitable[object]],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    catch_unexpected: Callable[[Exception], object] | None,
    options: RunOptions,
) -> AnyResult:
    """The shared implementation of `run` and `Workflow.__call__`."""
    check_options(options, "run")
    clock = options.get("clock") or SYSTEM_CLOCK
    ctx = RunContext(
        options.get("workflow_id") or str(uuid.uuid4()),
        context=options.get("context"),
        clock=clock,
        on_event=options.get("on_event"),
        name=options.get("name") or getattr(body, "__qualname__", None),
    )
    state = RunState(ctx, catch_unexpected=catch_unexpected)
    prepared = await _prepare(state, options)
    if prepared is not None:
        return prepared
    if ctx.on_event is not None:
        await ctx.emit(
            WorkflowStarted(
                workflow_id=ctx.workflow_id, ts=ctx.now(), context=ctx.context, name=ctx.name
            )
        )
    started = clock.monotonic()
    result = await _run_body(state, body, args, kwargs, options.get("timeout"), started)
    if ctx.on_event is not None:
        duration = clock.monotonic() - started
        wid, ts, context = ctx.workflow_id, ctx.now(), ctx.context
        if type(result) is Ok:
            await ctx.emit(
                WorkflowSucceeded(
                    workflow_id=wid, ts=ts, context=context, duration_s=duration, value=result.value
                )
            )
        else:
            await ctx.emit(
                WorkflowFailed(
                    workflow_id=wid, ts=ts, context=context, duration_s=duration, error=result.error
                )
            )
    return result


_OPTION_NAMES = RunOptions.__required_keys__ | RunOptions.__optional_keys__


def check_options(options: RunOptions, caller: str) -> None:
    """Reject keyword options `run` does not know (a typo would otherwise be ignored)."""
    if options.keys() <= _OPTION_NAMES:
        return
    unknown = ", ".join(sorted(options.keys() - _OPTION_NAMES))
    known = ", ".join(sorted(_OPTION_NAMES | {"catch_unexpected"}))
    raise TypeError(
        f"{caller}() got unknown option(s): {unknown}. Its keyword options are {known}; "
        "pass body arguments positionally, or use @workflow for keyword arguments"
    )


async def _prepare(state: RunState, options: RunOptions) -> AnyResult | None:
    """Context, hooks, cache and resume state; an Err here ends the run before it starts."""
    ctx = state.ctx
    create_context = options.get("create_context")
    if create_context is not None:
        try:
            ctx.context = await _maybe_await(create_context())
        except Exception as exc:
            return state.unexpected(exc, "create_context")
    gates = (
        ("should_run", options.get("should_run")),
        ("on_before_start", options.get("on_before_start")),
    )
    for option, hook in gates:
        if hook is not None:
            refused = await _gate(state, option, hook)
            if refused is not None:
                return refused
    cache = options.get("cache")
    resume = options.get("resume_state")
    if resume is not None:
        try:
            entries = await _maybe_await(resume() if callable(resume) else resume)
        except Exception as exc:
            return state.unexpected(exc, "resume_state")
        cache = cache if cache is not None else MemoryCache(max_size=None)
        try:
            await _load_resume(cache, entries)
        except Exception as exc:
            return state.unexpected(exc, "resume_state")
    state.cache = cache
    state.on_after_step = options.get("on_after_step")
    state.on_before_step = options.get("on_before_step")
    state.interceptor = options.get("interceptor")
    defaults = list(options.get("policies", ()))
    if "policy" in options:
        defaults.append(options["policy"])
    state.defaults = tuple(defaults)
    state.plain = (
        ctx.on_event is None
        and state.on_before_step is None
        and state.interceptor is None
        and not state.defaults
    )
    return None


async def _gate(state: RunState, option: str, hook: RunHook) -> AnyResult | None:
    """Run a `should_run` / `on_before_start` hook; a False answer skips the run."""
    ctx = state.ctx
    listening = ctx.on_event is not None
    started = ctx.clock.monotonic()
    try:
        answer = await _maybe_await(hook(ctx.workflow_id, ctx.context))
    except Exception as exc:
        if listening:
            error_event = HookShouldRunError if option == "should_run" else HookBeforeStartError
            await ctx.emit(
                error_event(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    duration_s=ctx.clock.monotonic() - started,
                    error=exc,
                )
            )
        return state.unexpected(exc, option)
    if listening:
        event = HookShouldRun if option == "should_run" else HookBeforeStart
        await ctx.emit(
            event(
                workflow_id=ctx.workflow_id,
                ts=ctx.now(),
                context=ctx.context,
                duration_s=ctx.clock.monotonic() - started,
                result=answer,
            )
        )
    if answer:
        return None
    if listening:
        await ctx.emit(
            WorkflowSkipped(
                workflow_id=ctx.workflow_id, ts=ctx.now(), context=ctx.context, reason=option
            )
        )
    return Err(Skipped(reason=option))


async def _load_resume(cache: AnyStepCache, entries: ResumeState) -> None:
    for key, entry in entries.items():
        if not isinstance(cast("object", entry), CacheEntry):
            raise TypeError(f"resume_state[{key!r}] is {type(entry).__name__}, not a ResumeEntry")
        done: object = cache.set(key, entry)
        if inspect.isawaitable(done):
            await done


async def _run_body(
    state: RunState,
    body: Callable[..., Awaitable[object]],
    args: tuple[object, ...],
    kwargs: dict[str, object],
    timeout: float | None,
    started: float,
) -> AnyResult:
    ctx = state.ctx
    current = run_context_var.set(ctx)
    try:
        awaitable = body(Step(state), *args, **kwargs)
        if not inspect.isawaitable(awaitable):
            raise TypeError(
                f"the body of run() must be an async def; {_describe(body)} returned "
                f"{type(awaitable).__name__} (use run_sync for a synchronous body)"
            )
        if timeout is None:
            return Ok(await awaitable)
        outcome = await within(ctx.clock, timeout, awaitable)
        if outcome is EXPIRED:
            return Err(WorkflowTimeout(seconds=timeout))
        return Ok(outcome)
    except GeneratorExit:
        raise  # the run's coroutine is being closed: nothing may be awaited any more
    except BaseException as exc:
        found = find_exit(exc, state.token)
        if found is not None:
            return found.result
        if isinstance(exc, Exception):
            try:
                return state.unexpected(exc, None)
            except Exception as bug:
                await _ended_without_result(state, started, bug)
                raise
        await _ended_without_result(state, started, exc)
        raise
    finally:
        run_context_var.reset(current)


async def _ended_without_result(state: RunState, started: float, exc: BaseException) -> None:
    """Emit `workflow_cancelled` for a run that an exception leaves without a result.

    That is asyncio cancellation (no reason), and anything else that passes through
    `run`: KeyboardInterrupt, SystemExit, another run's exit signal, an exception raised
    by the `catch_unexpected` mapper (the reason names it). So every `workflow_start`
    is followed by exactly one ending event.
    """
    ctx = state.ctx
    if ctx.on_event is None:
        return
    if isinstance(exc, asyncio.CancelledError):
        reason = None
    elif exc is state.mapper_failure:
        reason = f"catch_unexpected raised {type(exc).__name__}: {exc}"
    else:
        reason = f"{type(exc).__name__} passed through the run"
    await ctx.emit(
        WorkflowCancelled(
            workflow_id=ctx.workflow_id,
            ts=ctx.now(),
            context=ctx.context,
            duration_s=ctx.clock.monotonic() - started,
            reason=reason,
        )
    )


def _describe(body: object) -> str:
    return str(getattr(body, "__qualname__", None) or repr(body))


async def _maybe_await(value: Awaitable[T] | T) -> T:
    if inspect.isawaitable(value):
        return await value
    return value


# -- workflow -------------------------------------------------------------------------
class Workflow(Generic[P, T_co, E_co]):
    """A reusable, typed workflow: `await wf(*args)` returns `Result[T, E]`."""

    def __init__(
        self,
        body: Callable[..., Awaitable[object]],
        *,
        catch_unexpected: Callable[[Exception], object] | None,
        options: RunOptions,
    ) -> None:
        self.body = body
        self.catch_unexpected = catch_unexpected
        self.options = options
        self.name = str(options.get("name") or getattr(body, "__qualname__", repr(body)))
        self.__doc__ = getattr(body, "__doc__", None)

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Ok[T_co] | Err[E_co]:
        """Run the workflow with these arguments."""
        options: RunOptions = {"name": self.name, **self.options}
        return await execute_run(self.body, args, kwargs, self.catch_unexpected, options)  # type: ignore[return-value]

    def with_options(self, **options: Unpack[RunOptions]) -> Workflow[P, T_co, E_co]:
        """A copy with per-call options (workflow_id, resume_state, on_event, ...) merged in."""
        merged: RunOptions = {**self.options, **options}
        return Workflow(self.body, catch_unexpected=self.catch_unexpected, options=merged)

    def __repr__(self) -> str:
        return f"<Workflow {self.name}>"


class _WorkflowDecorator(Protocol):
    def __call__(
        self, body: Callable[Concatenate[Step[E], P], Awaitable[T]], /
    ) -> Workflow[P, T, E | UnexpectedError]: ...


class _StrictWorkflowDecorator(Protocol[U_co]):
    def __call__(
        self, body: Callable[Concatenate[Step[E], P], Awaitable[T]], /
    ) -> Workflow[P, T, E | U_co]: ...


@overload
def workflow(
    body: Callable[Concatenate[Step[E], P], Awaitable[T]], /
) -> Workflow[P, T, E | UnexpectedError]: ...


@overload
def workflow(
    *, catch_unexpected: None = None, **options: Unpack[RunOptions]
) -> _WorkflowDecorator: ...


@overload
def workflow(
    *, catch_unexpected: Callable[[Exception], U], **options: Unpack[RunOptions]
) -> _StrictWorkflowDecorator[U]: ...


def workflow(
    body: Callable[..., Awaitable[object]] | None = None,
    /,
    *,
    catch_unexpected: Callable[[Exception], object] | None = None,
    **options: Unpack[RunOptions],
) -> object:
    """Turn a body into a reusable typed workflow (`@workflow` or `@workflow(name=...)`).

    Arguments after `step` are checked at the call site: `await checkout(order_id)`.
    """
    if body is not None:
        return Workflow[Any, Any, Any](body, catch_unexpected=None, options={})
    check_options(options, "workflow")

    def decorate(fn: Callable[..., Awaitable[object]]) -> Workflow[Any, Any, Any]:
        return Workflow[Any, Any, Any](fn, catch_unexpected=catch_unexpected, options=options)

    return decorate
