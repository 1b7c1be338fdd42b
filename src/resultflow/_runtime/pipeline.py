"""What a run's steps share: `RunState`, `StepSpec`, and running an op once.

The order of what happens to a step (cache lookup, `on_before_step`, `step_start`,
the attempts under guards, retries and timeouts, `step_success` / `step_error`, the
cache write, `step_complete`, `on_after_step`) is written once, in
`_runtime.lifecycle.step_flow`; `RunState.execute` runs it under the run's `Driver`
(the async or the sync one, from `_runtime.drivers`). Events are only built when a
listener exists.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, TypeVar, cast

from resultflow._runtime.context import RunContext
from resultflow._runtime.short_circuit import StepExit
from resultflow._runtime.step_ops import discard
from resultflow.cache import AnyStepCache
from resultflow.errors import UnexpectedError
from resultflow.reliability._guard import Guard
from resultflow.reliability._timeout import Expired, Timeout
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from resultflow.reliability._policies import Policy
    from resultflow.reliability._retry import RetryPolicy

__all__ = [
    "AnyResult",
    "Driver",
    "RunBody",
    "RunState",
    "StepBase",
    "StepInfo",
    "StepInterceptor",
    "StepOp",
    "StepSpec",
    "current_scope",
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


@dataclass(frozen=True, slots=True)
class StepInfo:
    """What `on_before_step` is told about the step about to execute."""

    step_id: str
    name: str | None
    key: str | None


# (run token, id) of the innermost scope, or observed step, around the current task.
current_scope: ContextVar[tuple[object, str] | None] = ContextVar(
    "resultflow_current_scope", default=None
)


class RunBody:
    """The body of a run and what it is called with: `body(step, *args, **kwargs)`."""

    __slots__ = ("args", "body", "kwargs", "step", "timeout")

    def __init__(
        self,
        body: Callable[..., object],
        step: object,
        args: tuple[object, ...],
        kwargs: dict[str, object],
        timeout: float | None = None,
    ) -> None:
        self.body = body
        self.step = step
        self.args = args
        self.kwargs = kwargs
        self.timeout = timeout

    def call(self) -> object:
        """Call the body (under `run`, this gives its coroutine)."""
        return self.body(self.step, *self.args, **self.kwargs)


class Driver(Protocol):
    """What a lifecycle asks of the outside world; `_runtime.drivers` has the two drivers.

    `_runtime.lifecycle` says what each answer means and how a third driver (durable
    replay) answers `execute` from a checkpoint.
    """

    def step(self, op: object, spec: StepSpec) -> Coroutine[Any, Any, AnyResult]:
        """The lifecycle of one step under this driver (`lifecycle.step_flow`)."""
        ...

    def execute(
        self, op: object, spec: StepSpec, step_id: str, parent_id: str | None
    ) -> Awaitable[AnyResult]:
        """The step's Result: its op run with guards, retries and timeouts, or from elsewhere."""
        ...

    def attempt(
        self, op: object, spec: StepSpec, label: str, seconds: float | None
    ) -> Awaitable[tuple[AnyResult, bool]]:
        """One try of the op (guards, then a timeout of `seconds`); True if it timed out."""
        ...

    def wait(self, awaitable: Awaitable[object], what: str) -> Awaitable[Any]:
        """The value of an awaitable that user code (`what`) returned."""
        ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Wait through the run's clock."""
        ...

    def bounded(
        self, seconds: float, flow: Coroutine[Any, Any, AnyResult]
    ) -> Awaitable[AnyResult | Expired]:
        """`flow`'s Result, or `EXPIRED` when `seconds` passed first (`flow` cancelled)."""
        ...

    def run_body(self, body: RunBody) -> Awaitable[AnyResult]:
        """Call the body: `Ok(its value)`, or `Err(WorkflowTimeout)`; raises what it raises."""
        ...


class StepSpec:
    """The effective options of one step, after policies are resolved.

    A plain slotted class rather than a dataclass: one is built for every executed
    step, and this keeps that cheap. Treat instances as read-only.
    """

    __slots__ = (
        "cache_errors",
        "description",
        "guards",
        "key",
        "name",
        "note",
        "plain",
        "retry",
        "timeout",
        "ttl",
    )

    def __init__(
        self,
        key: str | None = None,
        name: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: Timeout | None = None,
        guards: tuple[Guard, ...] = (),
        ttl: float | None = None,
        description: str | None = None,
        note: str | None = None,
        cache_errors: bool = True,
    ) -> None:
        self.key = key
        self.name = name
        self.retry = retry
        self.timeout = timeout
        self.guards = guards
        self.ttl = ttl
        self.description = description
        # What a reader of the step's events should know about how it runs (it goes
        # on `step_start`): e.g. that a policy's retries were not applied.
        self.note = note
        # False: an Err result of this keyed step is not written to the cache.
        self.cache_errors = cache_errors
        # True when the step needs no retry, timeout or guard machinery.
        self.plain = retry is None and timeout is None and not guards

    def run_once(self, note: str) -> StepSpec:
        """This spec without its retries, saying why in `note`."""
        return StepSpec(
            key=self.key,
            name=self.name,
            timeout=self.timeout,
            guards=self.guards,
            ttl=self.ttl,
            description=self.description,
            note=note,
            cache_errors=self.cache_errors,
        )

    def __repr__(self) -> str:
        return (
            f"StepSpec(key={self.key!r}, name={self.name!r}, retry={self.retry!r}, "
            f"timeout={self.timeout!r}, guards={self.guards!r}, ttl={self.ttl!r})"
        )


def spec_from_policy(
    policy: Policy,
    *,
    ttl: float | None = None,
    description: str | None = None,
    cache_errors: bool = True,
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
        cache_errors=cache_errors,
    )


class RunState:
    """Everything one run's steps share: context, cache, hooks, defaults, the exit token."""

    __slots__ = (
        "cache",
        "catch_unexpected",
        "ctx",
        "defaults",
        "driver",
        "execute",
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
        driver: Callable[[RunState], Driver],
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
        # What the lifecycle asks of the outside world: the async or the sync driver.
        self.driver: Driver = driver(self)
        # `execute(op, spec)` runs one step through its lifecycle under this driver and
        # gives the awaitable of its Result (await it; under run_sync, `complete` it).
        # The driver's bound method itself, so a step pays one call for it.
        self.execute: Callable[[object, StepSpec], Coroutine[Any, Any, AnyResult]] = (
            self.driver.step
        )
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

    def once_sync(self, op: object, label: str | None) -> AnyResult:
        """`once` for `run_sync`: an op that gives an awaitable is a bug (closed, reported)."""
        try:
            value: object = op() if callable(op) else op
        except Exception as exc:
            return self.unexpected(exc, label)
        kind = type(value)
        if kind is Ok or kind is Err:
            return value  # type: ignore[return-value]
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()
            problem = TypeError(f"step {label!r} returned an awaitable; run_sync needs sync ops")
            return self.unexpected(problem, label)
        return self.to_result(value, label)

    # -- the lifecycle ----------------------------------------------------------------
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
