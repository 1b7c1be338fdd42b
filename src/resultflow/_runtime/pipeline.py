"""The step pipeline: how one step executes inside a run.

For every step the pipeline does, in this order: cache lookup (keyed steps only),
the `on_before_step` hook, `step_start`, the attempts, `step_success` /
`step_error`, then for keyed steps the cache write, `step_complete` and the
`on_after_step` hook. Each attempt runs through the step's guards (limiter outermost,
then breaker) and its per-attempt timeout; retries wrap the attempts, and a
whole-step timeout wraps the retries. Events are only built when a listener exists.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar, cast

from resultflow._runtime.context import RunContext
from resultflow._runtime.short_circuit import StepExit
from resultflow._runtime.step_ops import discard
from resultflow.cache import AnyStepCache, CacheEntry
from resultflow.errors import StepTimeout, UnexpectedError
from resultflow.events import (
    HookAfterStep,
    HookAfterStepError,
    HookBeforeStepError,
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
    WorkflowEvent,
)
from resultflow.reliability._guard import Guard
from resultflow.reliability._timeout import EXPIRED, Timeout, within
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from resultflow.reliability._policies import Policy
    from resultflow.reliability._retry import RetryPolicy

__all__ = [
    "AnyResult",
    "RunState",
    "StepBase",
    "StepInfo",
    "StepInterceptor",
    "StepOp",
    "StepSpec",
    "discard",
]

T = TypeVar("T")
E = TypeVar("E")
E_contra = TypeVar("E_contra", contravariant=True)

AnyResult: TypeAlias = Ok[object] | Err[object]
AfterStepHook: TypeAlias = Callable[[str, AnyResult, str, object], object]
BeforeStepHook: TypeAlias = Callable[["StepInfo", object], object]
UnexpectedMapper: TypeAlias = Callable[[Exception], object]
StepInterceptor: TypeAlias = Callable[
    ["StepInfo", object, Callable[[], Awaitable["AnyResult"]]], Awaitable["AnyResult"]
]
"""A test seam: `interceptor(info, op, proceed)` returns the step's result.

Call `await proceed()` to execute the op as usual (with its retries, timeout and
guards), or return a Result of your own to stand in for it. `resultflow.testing`'s
harness uses it to script step outcomes.
"""

StepOp: TypeAlias = (
    Ok[T]
    | Err[E]
    | Awaitable[Ok[T] | Err[E]]
    | Callable[[], Ok[T] | Err[E]]
    | Callable[[], Awaitable[Ok[T] | Err[E]]]
)
"""What a step accepts: a Result, an awaitable of one, or a zero-argument callable."""


# (run token, id) of the innermost scope, or observed step, around the current task.
current_scope: ContextVar[tuple[object, str] | None] = ContextVar(
    "resultflow_current_scope", default=None
)


@dataclass(frozen=True, slots=True)
class StepInfo:
    """What `on_before_step` is told about the step about to execute."""

    step_id: str
    name: str | None
    key: str | None


class StepSpec:
    """The effective options of one step, after policies are resolved.

    A plain slotted class rather than a dataclass: one is built for every executed
    step, and this keeps that cheap. Treat instances as read-only.
    """

    __slots__ = ("description", "guards", "key", "name", "plain", "retry", "timeout", "ttl")

    def __init__(
        self,
        key: str | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        guards: tuple[Guard, ...] = (),
        ttl: float | None = None,
        description: str | None = None,
    ) -> None:
        self.key = key
        self.name = name
        self.retry = retry
        self.timeout = timeout
        self.guards = guards
        self.ttl = ttl
        self.description = description
        # True when the step needs no retry, timeout or guard machinery.
        self.plain = retry is None and timeout is None and not guards

    def __repr__(self) -> str:
        return (
            f"StepSpec(key={self.key!r}, name={self.name!r}, retry={self.retry!r}, "
            f"timeout={self.timeout!r}, guards={self.guards!r}, ttl={self.ttl!r})"
        )


def spec_from_policy(
    policy: Policy, *, ttl: float | None = None, description: str | None = None
) -> StepSpec:
    """Turn a resolved `Policy` into the pipeline's `StepSpec`."""
    guards = tuple(g for g in (policy.limiter, policy.breaker) if g is not None)
    key = policy.key
    if key is not None and policy.key_prefix:
        key = f"{policy.key_prefix}{key}"
    timeout = None if policy.timeout is None else Timeout.coerce(policy.timeout)
    return StepSpec(
        key=key,
        name=policy.name,
        retry=policy.retry,
        timeout=timeout,
        guards=guards,
        ttl=ttl,
        description=description,
    )


class RunState:
    """Everything one run's steps share: context, cache, hooks, defaults, the exit token."""

    __slots__ = (
        "cache",
        "catch_unexpected",
        "ctx",
        "defaults",
        "interceptor",
        "mapper_failure",
        "on_after_step",
        "on_before_step",
        "plain",
        "token",
    )

    def __init__(
        self,
        ctx: RunContext,
        *,
        cache: AnyStepCache | None = None,
        on_after_step: AfterStepHook | None = None,
        on_before_step: BeforeStepHook | None = None,
        defaults: tuple[Policy, ...] = (),
        catch_unexpected: UnexpectedMapper | None = None,
    ) -> None:
        self.ctx = ctx
        self.cache = cache
        self.on_after_step = on_after_step
        self.on_before_step = on_before_step
        self.defaults = defaults
        self.catch_unexpected = catch_unexpected
        self.token = object()
        self.interceptor: StepInterceptor | None = None
        # What the catch_unexpected mapper raised, once it has: that exception must
        # leave the run as it is, never be fed back to the mapper.
        self.mapper_failure: Exception | None = None
        # A plain run has nothing to observe or intercept: steps take the fast path.
        self.plain = ctx.on_event is None and on_before_step is None and not defaults

    # -- errors -----------------------------------------------------------------------
    def unexpected(self, exc: Exception, label: str | None) -> Err[object]:
        """The Err for an exception raised by an op, a body or a hook.

        In strict mode this is `Err(catch_unexpected(exc))`. An exception raised by the
        mapper itself propagates (a bug in the mapper is not hidden), also when it
        reaches this method again on its way out of the body.
        """
        mapper = self.catch_unexpected
        if mapper is None:
            return Err(UnexpectedError.from_exception(exc, step=label), exc)
        failure = self.mapper_failure
        if failure is not None and _holds(exc, failure):
            raise exc
        try:
            return Err(mapper(exc), exc)
        except Exception as bug:
            self.mapper_failure = bug
            raise

    def exit(self, result: Err[object]) -> StepExit:
        """The signal that ends this run with `result`."""
        return StepExit(self.token, result)

    def parent_id(self) -> str | None:
        """The id of the innermost scope of this run around the current task."""
        scope = current_scope.get()
        if scope is not None and scope[0] is self.token:
            return scope[1]
        return None

    # -- running one op ---------------------------------------------------------------
    async def once(self, op: object, label: str | None) -> AnyResult:
        """Run `op` a single time and return its Result (exceptions become Errs)."""
        try:
            value: object = op() if callable(op) else op
            kind = type(value)
            if kind is Ok or kind is Err:
                return value  # type: ignore[return-value]
            if hasattr(value, "__await__"):
                value = await cast("Awaitable[object]", value)
        except Exception as exc:
            return self.unexpected(exc, label)
        return self.to_result(value, label)

    def to_result(self, value: object, label: str | None) -> AnyResult:
        """Accept an Ok/Err or a `returns` Result; anything else is a bug in the op."""
        kind = type(value)
        if kind is Ok or kind is Err:
            return value  # type: ignore[return-value]
        if "returns.result" in sys.modules:  # see `returns` in step_ops
            from returns.result import Failure, Success

            if isinstance(value, Success):
                return Ok(cast("Success[object]", value).unwrap())
            if isinstance(value, Failure):
                failure: object = cast("Failure[object]", value).failure()
                return Err(failure, failure if isinstance(failure, BaseException) else None)
        problem = TypeError(
            f"step {label!r} returned {kind.__name__} ({value!r:.80}), not a Result; "
            "return Ok(value) or Err(error)"
        )
        return self.unexpected(problem, label)

    # -- the full pipeline ------------------------------------------------------------
    async def execute(self, op: object, spec: StepSpec) -> AnyResult:
        """Run one step through cache, hooks, events, guards, timeouts and retries."""
        ctx = self.ctx
        listening = ctx.on_event is not None
        step_id = ctx.new_step_id()
        key = spec.key
        name = spec.name
        parent_id = self.parent_id() if listening else None
        if key is not None and self.cache is not None:
            entry = await self._cache_get(key)
            if entry is not None:
                discard(op)
                if listening:
                    await ctx.emit(StepCacheHit(**self.step_fields(step_id, name, key, parent_id)))
                return entry.result
            if listening:
                await ctx.emit(StepCacheMiss(**self.step_fields(step_id, name, key, parent_id)))
        if self.on_before_step is not None:
            await self._before_step(op, StepInfo(step_id, name, key))
        fields = self.step_fields(step_id, name, key, parent_id) if listening else None
        if fields is not None:
            pending = ctx.notify(StepStarted(**fields))
            if pending is not None:
                await pending
        clock = ctx.clock
        started = clock.monotonic()
        # While observed, steps and scopes started inside this step's op are its children.
        inner = current_scope.set((self.token, step_id)) if fields is not None else None
        try:
            if spec.plain and self.interceptor is None:
                result = await self.once(op, spec.name or key or step_id)
            else:
                result = await self._attempts(op, spec, step_id, parent_id)
        except BaseException as exc:
            # The step ends without a result: cancelled, or a step nested in its op
            # exited the body (StepExit). Either way its step_start gets an ending.
            if listening and not isinstance(exc, GeneratorExit):
                reason = "a nested step exited the run" if isinstance(exc, StepExit) else None
                await ctx.emit(
                    StepAborted(
                        **self.step_fields(step_id, name, key, parent_id),
                        reason=reason or type(exc).__name__,
                    )
                )
            raise
        finally:
            if inner is not None:
                current_scope.reset(inner)
        duration = clock.monotonic() - started
        if fields is not None:
            fields["ts"] = ctx.now()
            if type(result) is Ok:
                ended: WorkflowEvent = StepSucceeded(
                    **fields, value=result.value, duration_s=duration
                )
            else:
                ended = StepFailed(**fields, error=result.error, duration_s=duration)
            pending = ctx.notify(ended)
            if pending is not None:
                await pending
        if key is not None:
            await self._complete(key, result, spec, step_id, parent_id, duration)
        return result

    async def _attempts(
        self, op: object, spec: StepSpec, step_id: str, parent_id: str | None
    ) -> AnyResult:
        interceptor = self.interceptor
        if interceptor is not None:

            async def proceed() -> AnyResult:
                return await self._execute_attempts(op, spec, step_id, parent_id)

            return await interceptor(StepInfo(step_id, spec.name, spec.key), op, proceed)
        return await self._execute_attempts(op, spec, step_id, parent_id)

    async def _execute_attempts(
        self, op: object, spec: StepSpec, step_id: str, parent_id: str | None
    ) -> AnyResult:
        label = spec.name or spec.key or step_id
        if spec.plain:
            return await self.once(op, label)
        timeout = spec.timeout
        if timeout is not None and not timeout.per_attempt:
            outcome = await within(
                self.ctx.clock,
                timeout.seconds,
                self._retry_loop(op, spec, None, step_id, parent_id),
            )
            if outcome is EXPIRED:
                return await self._timed_out(label, timeout.seconds, 0, step_id, spec, parent_id)
            return outcome  # type: ignore[return-value]
        return await self._retry_loop(op, spec, timeout, step_id, parent_id)

    async def _retry_loop(
        self,
        op: object,
        spec: StepSpec,
        per_attempt: Timeout | None,
        step_id: str,
        parent_id: str | None,
    ) -> AnyResult:
        clock = self.ctx.clock
        first_started = clock.monotonic()
        attempt = 0
        while True:
            attempt += 1
            result = await self._guarded_attempt(op, spec, per_attempt, attempt, step_id, parent_id)
            delay, event = self.plan_retry(spec, result, attempt, first_started, step_id, parent_id)
            if event is not None:
                await self.ctx.emit(event)
            if delay is None:
                return result
            await clock.sleep(delay)

    def plan_retry(
        self,
        spec: StepSpec,
        result: AnyResult,
        attempt: int,
        first_started: float,
        step_id: str,
        parent_id: str | None,
    ) -> tuple[float | None, StepRetrying | StepRetriesExhausted | None]:
        """After attempt number `attempt`: the delay before the next (None: stop) and the event.

        Shared by the async and sync pipelines; the event is only built when listening.
        """
        retry = spec.retry
        if type(result) is Ok or retry is None:
            return None, None
        error = result.error
        if not retry.should_retry(error):
            return None, None
        delay = retry.next_delay(attempt, self.ctx.clock.monotonic() - first_started, error)
        if self.ctx.on_event is None:
            return delay, None
        fields = self.step_fields(step_id, spec.name, spec.key, parent_id)
        if delay is None:
            return None, StepRetriesExhausted(**fields, attempts=attempt, error=error)
        return delay, StepRetrying(**fields, attempt=attempt + 1, delay_s=delay, error=error)

    def completion_meta(self, step_id: str, spec: StepSpec, duration: float) -> dict[str, object]:
        """The JSON-safe metadata stored with a keyed step's result."""
        return {
            "step_id": step_id,
            "name": spec.name,
            "duration_s": duration,
            "completed_at": self.ctx.now(),
        }

    async def _guarded_attempt(
        self,
        op: object,
        spec: StepSpec,
        per_attempt: Timeout | None,
        attempt: int,
        step_id: str,
        parent_id: str | None,
    ) -> AnyResult:
        label = spec.name or spec.key or step_id

        async def timed() -> AnyResult:
            if per_attempt is None:
                return await self.once(op, label)
            outcome = await within(self.ctx.clock, per_attempt.seconds, self.once(op, label))
            if outcome is EXPIRED:
                return await self._timed_out(
                    label, per_attempt.seconds, attempt, step_id, spec, parent_id
                )
            return outcome  # type: ignore[return-value]

        call: Callable[[], Awaitable[AnyResult]] = timed
        for guard in reversed(spec.guards):
            call = _through(guard, call)
        return await call()

    async def _timed_out(
        self,
        label: str,
        seconds: float,
        attempt: int,
        step_id: str,
        spec: StepSpec,
        parent_id: str | None,
    ) -> AnyResult:
        if self.ctx.on_event is not None:
            await self.ctx.emit(
                StepTimedOut(
                    **self.step_fields(step_id, spec.name, spec.key, parent_id),
                    seconds=seconds,
                    attempt=max(attempt, 1),
                )
            )
        return Err(StepTimeout(name=label, seconds=seconds))

    # -- hooks and cache --------------------------------------------------------------
    async def _before_step(self, op: object, info: StepInfo) -> None:
        hook = self.on_before_step
        assert hook is not None
        clock = self.ctx.clock
        started = clock.monotonic()
        try:
            outcome = hook(info, self.ctx.context)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:
            discard(op)
            if self.ctx.on_event is not None:
                await self.ctx.emit(
                    HookBeforeStepError(
                        workflow_id=self.ctx.workflow_id,
                        ts=self.ctx.now(),
                        context=self.ctx.context,
                        step_id=info.step_id,
                        duration_s=clock.monotonic() - started,
                        error=exc,
                    )
                )
            raise self.exit(self.unexpected(exc, "on_before_step")) from exc

    async def _complete(
        self,
        key: str,
        result: AnyResult,
        spec: StepSpec,
        step_id: str,
        parent_id: str | None,
        duration: float,
    ) -> None:
        ctx = self.ctx
        meta = self.completion_meta(step_id, spec, duration)
        if self.cache is not None:
            await self._cache_set(key, CacheEntry(result, meta), spec.ttl)
        if ctx.on_event is not None:
            await ctx.emit(
                StepCompleted(
                    **self.step_fields(step_id, spec.name, key, parent_id),
                    result=result,
                    meta=meta,
                )
            )
        if self.on_after_step is not None:
            await self._after_step(key, result)

    async def _after_step(self, key: str, result: AnyResult) -> None:
        hook = self.on_after_step
        assert hook is not None
        ctx = self.ctx
        started = ctx.clock.monotonic()
        try:
            outcome: object = hook(key, result, ctx.workflow_id, ctx.context)
            if inspect.isawaitable(outcome):
                outcome = await outcome
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
                    )
                )
            raise self.exit(self.unexpected(exc, "on_after_step")) from exc
        if ctx.on_event is not None:
            await ctx.emit(
                HookAfterStep(
                    workflow_id=ctx.workflow_id,
                    ts=ctx.now(),
                    context=ctx.context,
                    key=key,
                    duration_s=ctx.clock.monotonic() - started,
                    result=outcome,
                )
            )

    async def _cache_get(self, key: str) -> CacheEntry | None:
        assert self.cache is not None
        found: object = self.cache.get(key)
        if inspect.isawaitable(found):
            found = await found
        return found if isinstance(found, CacheEntry) else None

    async def _cache_set(self, key: str, entry: CacheEntry, ttl: float | None) -> None:
        assert self.cache is not None
        done: object = self.cache.set(key, entry, ttl)
        if inspect.isawaitable(done):
            await done

    def step_fields(
        self, step_id: str, name: str | None, key: str | None, parent_id: str | None
    ) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "workflow_id": ctx.workflow_id,
            "ts": ctx.now(),
            "context": ctx.context,
            "step_id": step_id,
            "name": name,
            "key": key,
            "parent_id": parent_id,
        }


def _holds(exc: BaseException, target: BaseException) -> bool:
    """True when `exc` is `target` or an exception group holding it."""
    if exc is target:
        return True
    if isinstance(exc, BaseExceptionGroup):
        group = cast("BaseExceptionGroup[BaseException]", exc)
        return group.subgroup(lambda inner: inner is target) is not None
    return False


def _through(
    guard: Guard, call: Callable[[], Awaitable[AnyResult]]
) -> Callable[[], Awaitable[AnyResult]]:
    async def guarded() -> AnyResult:
        return await guard.call_result(call)

    return guarded


class StepBase(Generic[E_contra]):
    """What every family of step methods shares: the run state and unwrapping."""

    __slots__ = ("_run",)

    def __init__(self, run: RunState) -> None:
        self._run = run

    @property
    def context(self) -> RunContext:
        """The run's context: `workflow_id`, the user `context`, `emit(event)`, the clock."""
        return self._run.ctx

    def _unwrap(self, result: AnyResult) -> Any:
        """The Ok value, or the signal that ends the body with the Err."""
        if type(result) is Ok:
            return result.value
        raise self._run.exit(result)
