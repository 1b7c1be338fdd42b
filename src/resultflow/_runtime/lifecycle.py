"""The one lifecycle of a run and of a step, written once; the drivers supply the I/O.

`run_flow` (a run: context, hooks, resume state, events, the body, cancellation) and
`step_flow` (a step: cache lookup, `on_before_step`, events, the execution with its
guards, retries and timeouts, the cache write, `step_complete`, `on_after_step`) decide
what happens and in which order. Everything that differs between `run` and `run_sync`
is asked of the run's *driver* (`state.driver`, a `pipeline.Driver`; the two drivers
are in `_runtime.drivers`):

| the flow asks | the async driver | the sync driver |
| --- | --- | --- |
| `execute(op, spec, ...)`: the Result | `execution_flow`, or the interceptor | `execution_flow` |
| `attempt(op, spec, ...)`: one try | awaits the op, guards and timeout | calls the op |
| `wait(awaitable, what)`: a hook's, cache's... | awaits it | refuses it (TypeError) |
| `sleep(seconds)` | `await clock.sleep` | `clock.sleep_sync` |
| `bounded(seconds, flow)`: a step deadline | cancels `flow` on expiry | refuses (no timeouts) |
| `run_body(body)` | calls and awaits the body | calls the body |

The flows are `async def`, but only the driver ever suspends: the sync driver's answers
are ready at once, so `run_sync` runs the very same coroutine to its end with a single
`send(None)` (`drivers.complete`), and an exception simply propagates, through the
flow's own `try` blocks (`step_aborted`, `workflow_cancelled`). Events go to the
listener from the flow itself (`ctx.notify` / `ctx.emit`; under `run_sync` a listener
is only called, never awaited). Because both entry points run these flows, `run` and
`run_sync` emit the same events in the same order by construction.

Retries are the one loop of `reliability._retry.retry_loop` (its decisions: attempt,
wait and try again, give up), which `_attempts` turns into driver attempts,
`step_retry` / `step_retries_exhausted` events and driver sleeps; `retry_call` and
`retry_call_sync` drive the same loop.

A third driver -- the durable engine's replay -- needs no third copy of any of this.
It is a driver whose `execute` answers from a checkpoint: `execute` is the one point
where a step's Result is produced, and it receives the step's identity (`step_id`, ids
being given out in the body's order and so stable on replay, and the spec's `name` and
`key`). When a checkpoint exists for that identity, the durable driver returns its
recorded Result without running anything (no attempt, no retry, no timer), and the flow
still emits the step's events and caches it, so observers see a replayed step like a
live one; when none exists it runs `execution_flow` as the async driver does and stores
the Result before returning it. `step.sleep` is a step too, so a durable timer is a
checkpointed `execute` whose answer is "the wake-up time has passed". The testing
harness's `interceptor=` already stands in for `execute` the same way.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from resultflow._runtime.context import run_context_var
from resultflow._runtime.pipeline import (
    AnyResult,
    RunBody,
    RunState,
    StepInfo,
    StepSpec,
    current_scope,
)
from resultflow._runtime.short_circuit import StepExit, find_exit
from resultflow._runtime.step_ops import discard
from resultflow.cache import CacheEntry, MemoryCache
from resultflow.errors import PendingApproval, Skipped, StepTimeout
from resultflow.events import (
    HookAfterStep,
    HookAfterStepError,
    HookBeforeStart,
    HookBeforeStartError,
    HookBeforeStepError,
    HookShouldRun,
    HookShouldRunError,
    StepAborted,
    StepCacheHit,
    StepCacheMiss,
    StepCompleted,
    StepFailed,
    StepRetriesExhausted,
    StepRetrying,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    WorkflowCancelled,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowSkipped,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.reliability._timeout import Expired
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from resultflow._runtime.run_options import RunOptions
    from resultflow.cache import AnyStepCache

__all__ = ["execution_flow", "run_flow", "step_flow"]


# -- the step ---------------------------------------------------------------------------
async def step_flow(state: RunState, op: object, spec: StepSpec) -> AnyResult:
    """One step: cache, `on_before_step`, events, `Execute`, completion, `on_after_step`."""
    ctx = state.ctx
    listening = ctx.on_event is not None
    step_id = ctx.new_step_id()
    key = spec.key
    name = spec.name
    parent_id = state.parent_id() if listening else None
    cache = state.cache
    if key is not None and cache is not None:
        found: object = cache.get(key)
        if found is not None and type(found) is not CacheEntry and inspect.isawaitable(found):
            found = await state.driver.wait(found, "StepCache")
        if isinstance(found, CacheEntry):
            discard(op)
            if listening:
                await ctx.emit(StepCacheHit(**state.step_fields(step_id, name, key, parent_id)))
            return found.result
        if listening:
            await ctx.emit(StepCacheMiss(**state.step_fields(step_id, name, key, parent_id)))
    if state.on_before_step is not None:
        await _before_step(state, op, StepInfo(step_id, name, key))
    # step_start and its ending are the events of every observed step: built with
    # keywords (no field dict) and handed to the listener inline, they stay cheap.
    if listening:
        pending = ctx.notify(
            StepStarted(
                workflow_id=ctx.workflow_id,
                ts=ctx.now(),
                context=ctx.context,
                step_id=step_id,
                name=name,
                key=key,
                parent_id=parent_id,
                note=spec.note,
            )
        )
        if pending is not None:
            await pending
    clock = ctx.clock
    started = clock.monotonic()
    # While observed, steps and scopes started inside this step's op are its children.
    inner = current_scope.set((state.token, step_id)) if listening else None
    try:
        result = await state.driver.execute(op, spec, step_id, parent_id)
    except BaseException as exc:
        # The step ends without a result: cancelled, or a step nested in its op
        # exited the body (StepExit). Either way its step_start gets an ending.
        if listening and not isinstance(exc, GeneratorExit):
            reason = "a nested step exited the run" if isinstance(exc, StepExit) else None
            await ctx.emit(
                StepAborted(
                    **state.step_fields(step_id, name, key, parent_id),
                    reason=reason or type(exc).__name__,
                ),
            )
        raise
    finally:
        if inner is not None:
            current_scope.reset(inner)
    duration = clock.monotonic() - started
    if listening:
        if type(result) is Ok:
            ended: WorkflowEvent = StepSucceeded(
                workflow_id=ctx.workflow_id,
                ts=ctx.now(),
                context=ctx.context,
                step_id=step_id,
                name=name,
                key=key,
                parent_id=parent_id,
                value=result.value,
                duration_s=duration,
            )
        else:
            ended = StepFailed(
                workflow_id=ctx.workflow_id,
                ts=ctx.now(),
                context=ctx.context,
                step_id=step_id,
                name=name,
                key=key,
                parent_id=parent_id,
                error=result.error,
                duration_s=duration,
            )
        pending = ctx.notify(ended)
        if pending is not None:
            await pending
    if key is not None:
        await _complete(state, key, result, spec, step_id, parent_id, duration)
    return result


async def execution_flow(
    state: RunState, op: object, spec: StepSpec, step_id: str, parent_id: str | None
) -> AnyResult:
    """A step's execution: a whole-step timeout around the retry loop around attempts."""
    label = spec.name or spec.key or step_id
    timeout = spec.timeout
    if timeout is not None and not timeout.per_attempt:
        outcome = await state.driver.bounded(
            timeout.seconds, _attempts(state, op, spec, None, label, step_id, parent_id)
        )
        if isinstance(outcome, Expired):
            return await _timed_out(state, spec, label, timeout.seconds, 1, step_id, parent_id)
        return outcome
    per_attempt = None if timeout is None else timeout.seconds
    return await _attempts(state, op, spec, per_attempt, label, step_id, parent_id)


async def _attempts(
    state: RunState,
    op: object,
    spec: StepSpec,
    seconds: float | None,
    label: str,
    step_id: str,
    parent_id: str | None,
) -> AnyResult:
    """The attempts of a step, as `retry_loop` decides them (one when it has no retry)."""
    retry = spec.retry
    if retry is None:
        return await _attempt(state, op, spec, seconds, label, 1, step_id, parent_id)
    # Imported here: a step with a retry policy has loaded the module already, and
    # `import resultflow` stays free of tenacity.
    from resultflow.reliability._retry import TryAgain, TryAttempt, retry_loop

    ctx = state.ctx
    listening = ctx.on_event is not None
    loop = retry_loop(retry, ctx.clock)
    answer: AnyResult | None = None
    while True:
        try:
            decision = loop.send(answer)
        except StopIteration as stop:
            final: AnyResult = stop.value
            return final
        answer = None
        if isinstance(decision, TryAttempt):
            answer = await _attempt(
                state, op, spec, seconds, label, decision.number, step_id, parent_id
            )
        elif isinstance(decision, TryAgain):
            if listening:
                await ctx.emit(
                    StepRetrying(
                        **state.step_fields(step_id, spec.name, spec.key, parent_id),
                        attempt=decision.attempt,
                        delay_s=decision.delay,
                        error=decision.error,
                    ),
                )
            await state.driver.sleep(decision.delay)
        elif listening:  # GiveUp
            await ctx.emit(
                StepRetriesExhausted(
                    **state.step_fields(step_id, spec.name, spec.key, parent_id),
                    attempts=decision.attempts,
                    error=decision.error,
                ),
            )


async def _attempt(
    state: RunState,
    op: object,
    spec: StepSpec,
    seconds: float | None,
    label: str,
    number: int,
    step_id: str,
    parent_id: str | None,
) -> AnyResult:
    result, expired = await state.driver.attempt(op, spec, label, seconds)
    if expired and seconds is not None:
        await _timed_out(state, spec, label, seconds, number, step_id, parent_id)
    return result


async def _timed_out(
    state: RunState,
    spec: StepSpec,
    label: str,
    seconds: float,
    attempt: int,
    step_id: str,
    parent_id: str | None,
) -> AnyResult:
    ctx = state.ctx
    if ctx.on_event is not None:
        await ctx.emit(
            StepTimedOut(
                **state.step_fields(step_id, spec.name, spec.key, parent_id),
                seconds=seconds,
                attempt=attempt,
            ),
        )
    return Err(StepTimeout(name=label, seconds=seconds))


async def _before_step(state: RunState, op: object, info: StepInfo) -> None:
    hook = state.on_before_step
    assert hook is not None
    ctx = state.ctx
    started = ctx.clock.monotonic()
    try:
        outcome = hook(info, ctx.context)
        if inspect.isawaitable(outcome):
            await state.driver.wait(outcome, "on_before_step")
    except Exception as exc:
        discard(op)
        if ctx.on_event is not None:
            await ctx.emit(
                HookBeforeStepError(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    step_id=info.step_id,
                    duration_s=ctx.clock.monotonic() - started,
                    error=exc,
                ),
            )
        raise state.exit(state.unexpected(exc, "on_before_step")) from exc


async def _complete(
    state: RunState,
    key: str,
    result: AnyResult,
    spec: StepSpec,
    step_id: str,
    parent_id: str | None,
    duration: float,
) -> None:
    """A keyed step's ending: the cache write, `step_complete`, then `on_after_step`."""
    ctx = state.ctx
    meta: dict[str, object] = {
        "step_id": step_id,
        "name": spec.name,
        "duration_s": duration,
        "completed_at": ctx.now(),
    }
    cache = state.cache
    # An Err is cached unless the step says not to (`cache_errors=False`: a transient
    # failure must not be replayed from a shared cache for the whole TTL).
    if cache is not None and (spec.cache_errors or type(result) is Ok):
        done: object = cache.set(key, CacheEntry(result, meta), spec.ttl)
        if done is not None and inspect.isawaitable(done):
            await state.driver.wait(done, "StepCache")
    if ctx.on_event is not None:
        await ctx.emit(
            StepCompleted(
                **state.step_fields(step_id, spec.name, key, parent_id), result=result, meta=meta
            ),
        )
    hook = state.on_after_step
    if hook is None:
        return
    started = ctx.clock.monotonic()
    try:
        outcome: object = hook(key, result, ctx.workflow_id, ctx.context)
        if inspect.isawaitable(outcome):
            outcome = await state.driver.wait(outcome, "on_after_step")
    except Exception as exc:
        if ctx.on_event is not None:
            await ctx.emit(
                HookAfterStepError(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    key=key,
                    duration_s=ctx.clock.monotonic() - started,
                    error=exc,
                ),
            )
        raise state.exit(state.unexpected(exc, "on_after_step")) from exc
    if ctx.on_event is not None:
        await ctx.emit(
            HookAfterStep(
                workflow_id=ctx.workflow_id,
                ts=ctx.now(),
                context=ctx.context,
                key=key,
                duration_s=ctx.clock.monotonic() - started,
                result=outcome,
            ),
        )


# -- the run ----------------------------------------------------------------------------
async def run_flow(state: RunState, options: RunOptions, body: RunBody) -> AnyResult:
    """One run: context, gates, resume state, `workflow_start`, the body, its ending.

    Nothing leaves it but the run's Result, except what must pass through `run`
    (cancellation, `KeyboardInterrupt` / `SystemExit`, an exception raised by the
    `catch_unexpected` mapper), after a `workflow_cancelled` event.
    """
    refused = await _prepare(state, options)
    if refused is not None:
        return refused
    ctx = state.ctx
    if ctx.on_event is not None:
        await ctx.emit(
            WorkflowStarted(
                workflow_id=ctx.workflow_id, ts=ctx.now(), context=ctx.context, name=ctx.name
            ),
        )
    started = ctx.clock.monotonic()
    current = run_context_var.set(ctx)
    try:
        result = await state.driver.run_body(body)
    except GeneratorExit:
        raise  # the run's coroutine is being closed: nothing may be awaited any more
    except BaseException as exc:
        found = find_exit(exc, state.token)
        if found is not None:
            result = found.result
        elif isinstance(exc, Exception):
            try:
                result = state.unexpected(exc, None)
            except Exception as bug:
                await _ended_without_result(state, started, bug)
                raise
        else:
            await _ended_without_result(state, started, exc)
            raise
    finally:
        run_context_var.reset(current)
    if ctx.on_event is not None:
        duration = ctx.clock.monotonic() - started
        if type(result) is Ok:
            await ctx.emit(
                WorkflowSucceeded(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    duration_s=duration,
                    value=result.value,
                ),
            )
        else:
            await ctx.emit(
                WorkflowFailed(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    duration_s=duration,
                    error=result.error,
                ),
            )
    return result


async def _prepare(state: RunState, options: RunOptions) -> AnyResult | None:
    """Context, gates, resume state; an Err here ends the run before it starts."""
    ctx = state.ctx
    create_context = options.get("create_context")
    if create_context is not None:
        try:
            value = create_context()
            if inspect.isawaitable(value):
                value = await state.driver.wait(value, "create_context")
            ctx.context = value
        except Exception as exc:
            return state.unexpected(exc, "create_context")
    for option in ("should_run", "on_before_start"):
        hook = options.get(option)
        if hook is not None:
            refused = await _gate(state, option, cast("Callable[[str, Any], object]", hook))
            if refused is not None:
                return refused
    cache = options.get("cache")
    resume = options.get("resume_state")
    if resume is not None:
        cache = cache if cache is not None else MemoryCache(max_size=None)
        try:
            entries: object = resume() if callable(resume) else resume
            if inspect.isawaitable(entries):
                entries = await state.driver.wait(entries, "resume_state loader")
            await _load_resume(state, cache, cast("dict[str, object]", entries))
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


async def _gate(
    state: RunState, option: str, hook: Callable[[str, Any], object]
) -> AnyResult | None:
    """A `should_run` / `on_before_start` hook; a False answer skips the run."""
    ctx = state.ctx
    listening = ctx.on_event is not None
    started = ctx.clock.monotonic()
    try:
        answer = hook(ctx.workflow_id, ctx.context)
        if inspect.isawaitable(answer):
            answer = await state.driver.wait(answer, option)
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
                ),
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
            ),
        )
    if answer:
        return None
    if listening:
        await ctx.emit(
            WorkflowSkipped(
                workflow_id=ctx.workflow_id, ts=ctx.now(), context=ctx.context, reason=option
            ),
        )
    return Err(Skipped(reason=option))


async def _load_resume(state: RunState, cache: AnyStepCache, entries: dict[str, object]) -> None:
    for key, entry in entries.items():
        if not isinstance(entry, CacheEntry):
            raise TypeError(f"resume_state[{key!r}] is {type(entry).__name__}, not a ResumeEntry")
        result = entry.result
        if isinstance(result, Err) and isinstance(result.error, PendingApproval):
            continue  # a pending approval is not a finished step: its check is asked again
        done: object = cache.set(key, entry)
        if done is not None and inspect.isawaitable(done):
            await state.driver.wait(done, "StepCache")


async def _ended_without_result(state: RunState, started: float, exc: BaseException) -> None:
    """Emit `workflow_cancelled` for a run that an exception leaves without a result.

    That is asyncio cancellation (no reason), and anything else that passes through
    the run: KeyboardInterrupt, SystemExit, another run's exit signal, an exception
    raised by the `catch_unexpected` mapper (the reason names it). So every
    `workflow_start` is followed by exactly one ending event.
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
        ),
    )
