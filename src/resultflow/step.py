"""`Step[E]`: the callable a workflow body uses to unwrap results.

`await step(op)` returns the Ok value of `op` or stops the body, making `run` return
that Err. `E` is the body's declared error union: a step whose error type is outside
it is rejected by mypy and pyright, because `Step` is contravariant in `E`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    NoReturn,
    TypeAlias,
    TypeVar,
    cast,
    overload,
)

from returns.result import Result as ReturnsResult

from resultflow import scopes
from resultflow.context import RunContext
from resultflow.pipeline import AnyResult, RunState, StepSpec, spec_from_policy
from resultflow.result import Err, Ok
from resultflow.timeout import Timeout

if TYPE_CHECKING:
    from resultflow.conditional import Condition
    from resultflow.guard import Guard
    from resultflow.policies import Policy
    from resultflow.retry import RetryPolicy

__all__ = ["Step", "StepOp"]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
D = TypeVar("D")
F = TypeVar("F")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")
E_contra = TypeVar("E_contra", contravariant=True)

StepOp: TypeAlias = (
    Ok[T]
    | Err[E]
    | Awaitable[Ok[T] | Err[E]]
    | Callable[[], Ok[T] | Err[E]]
    | Callable[[], Awaitable[Ok[T] | Err[E]]]
)
"""What a step accepts: a Result, an awaitable of one, or a zero-argument callable."""

Backoff: TypeAlias = Literal["exponential", "linear", "fixed"]


class Step(Generic[E_contra]):
    """The step runner handed to a workflow body; `E` is the body's error union."""

    __slots__ = ("_run",)

    def __init__(self, run: RunState) -> None:
        self._run = run

    @property
    def context(self) -> RunContext:
        """The run's context: `workflow_id`, the user `context`, `emit(event)`, the clock."""
        return self._run.ctx

    # -- the step itself ------------------------------------------------------------
    @overload
    async def __call__(
        self,
        op: Ok[T] | Err[E_contra],
        *,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
        policy: Policy | None = None,
        breaker: Guard | None = None,
        limiter: Guard | None = None,
        ttl: float | None = None,
        description: str | None = None,
    ) -> T: ...

    @overload
    async def __call__(
        self,
        op: Callable[[], Awaitable[Ok[T] | Err[E_contra]]],
        *,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
        policy: Policy | None = None,
        breaker: Guard | None = None,
        limiter: Guard | None = None,
        ttl: float | None = None,
        description: str | None = None,
    ) -> T: ...

    @overload
    async def __call__(
        self,
        op: Callable[[], Ok[T] | Err[E_contra]],
        *,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
        policy: Policy | None = None,
        breaker: Guard | None = None,
        limiter: Guard | None = None,
        ttl: float | None = None,
        description: str | None = None,
    ) -> T: ...

    @overload
    async def __call__(
        self,
        op: Awaitable[Ok[T] | Err[E_contra]],
        *,
        key: str | None = None,
        name: str | None = None,
        retry: None = None,
        timeout: float | Timeout | None = None,
        policy: Policy | None = None,
        breaker: Guard | None = None,
        limiter: Guard | None = None,
        ttl: float | None = None,
        description: str | None = None,
    ) -> T: ...

    @overload
    async def __call__(
        self,
        op: ReturnsResult[T, E_contra] | Callable[[], ReturnsResult[T, E_contra]],
        *,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
        policy: Policy | None = None,
        breaker: Guard | None = None,
        limiter: Guard | None = None,
        ttl: float | None = None,
        description: str | None = None,
    ) -> T: ...

    async def __call__(
        self,
        op: object,
        *,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
        policy: Policy | None = None,
        breaker: Guard | None = None,
        limiter: Guard | None = None,
        ttl: float | None = None,
        description: str | None = None,
    ) -> object:
        run = self._run
        if (
            run.plain
            and key is None
            and retry is None
            and timeout is None
            and policy is None
            and breaker is None
            and limiter is None
        ):
            # Fast path: nothing observes or wraps this step.
            kind = type(op)
            result = (
                cast("AnyResult", op) if kind is Ok or kind is Err else await run.once(op, name)
            )
            if type(result) is Ok:
                return result.value
            raise run.exit(result)
        spec = self._spec(
            op,
            key=key,
            name=name,
            retry=retry,
            timeout=timeout,
            policy=policy,
            breaker=breaker,
            limiter=limiter,
            ttl=ttl,
            description=description,
        )
        return self._unwrap(await run.execute(op, spec))

    # -- variants -------------------------------------------------------------------
    @overload
    async def try_(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        error: E_contra,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
    ) -> T: ...

    @overload
    async def try_(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        on_error: Callable[[Exception], E_contra],
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
    ) -> T: ...

    @overload
    async def try_(
        self,
        fn: Callable[[], T],
        *,
        error: E_contra,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
    ) -> T: ...

    @overload
    async def try_(
        self,
        fn: Callable[[], T],
        *,
        on_error: Callable[[Exception], E_contra],
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
    ) -> T: ...

    async def try_(
        self,
        fn: Callable[[], object],
        *,
        error: object = None,
        on_error: Callable[[Exception], object] | None = None,
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
    ) -> object:
        """Run a function that raises: its exceptions become `Err(error)` / `Err(on_error(exc))`."""
        if not callable(fn):
            raise TypeError("step.try_ needs a zero-argument callable")
        mapper: Callable[[Exception], object] = on_error or (lambda _exc: error)
        op: Any = _raising_op(fn, mapper)
        return await self(
            op,
            key=key,
            name=name,
            retry=retry,
            timeout=timeout,
        )

    async def from_result(
        self,
        fn: StepOp[T, F],
        *,
        on_error: Callable[[F], E_contra],
        key: str | None = None,
        name: str | None = None,
        retry: int | RetryPolicy | None = None,
        timeout: float | Timeout | None = None,
    ) -> T:
        """Run a Result-returning op and map its error into the body's error union."""
        run = self._run

        async def mapped() -> AnyResult:
            result = await run.once(fn, name)
            if type(result) is Err:
                return Err(on_error(result.error), result.cause)  # type: ignore[arg-type]
            return result

        op: Any = mapped
        value: T = await self(op, key=key, name=name, retry=retry, timeout=timeout)
        return value

    async def retry(
        self,
        fn: Callable[[], Ok[T] | Err[E_contra]] | Callable[[], Awaitable[Ok[T] | Err[E_contra]]],
        attempts: int = 3,
        backoff: Backoff = "exponential",
        *,
        initial: float = 0.1,
        max_delay: float = 30.0,
        jitter: bool | float = True,
        retry_on: Callable[[object], bool] | None = None,
        key: str | None = None,
        name: str | None = None,
        timeout: float | Timeout | None = None,
    ) -> T:
        """Shorthand for `step(fn, retry=RetryPolicy(attempts, backoff, ...))`."""
        from resultflow.retry import RetryPolicy

        policy = RetryPolicy(
            attempts=attempts,
            backoff=backoff,
            initial=initial,
            max_delay=max_delay,
            jitter=jitter,
            retry_on=retry_on,
        )
        return await self(fn, retry=policy, key=key, name=name, timeout=timeout)

    async def timeout(
        self,
        fn: StepOp[T, E_contra],
        seconds: float | Timeout,
        *,
        key: str | None = None,
        name: str | None = None,
    ) -> T:
        """Shorthand for `step(fn, timeout=seconds)`: on expiry, `Err(StepTimeout)`."""
        op: Any = fn
        value: T = await self(op, timeout=seconds, key=key, name=name)
        return value

    def fail(self, error: E_contra) -> NoReturn:
        """Exit the body now with `Err(error)`."""
        raise self._run.exit(Err(error))

    async def sleep(self, seconds: float, *, key: str | None = None, name: str = "sleep") -> None:
        """Sleep through the run's clock (a durable timer under the durable engine)."""
        clock = self._run.ctx.clock

        async def sleeping() -> Ok[None]:
            await clock.sleep(seconds)
            return Ok(None)

        await self(sleeping, key=key, name=name)

    # -- concurrent scopes --------------------------------------------------------------
    @overload
    async def all(self, a: StepOp[T1, E_contra], /, *, name: str | None = None) -> tuple[T1]: ...

    @overload
    async def all(
        self, a: StepOp[T1, E_contra], b: StepOp[T2, E_contra], /, *, name: str | None = None
    ) -> tuple[T1, T2]: ...

    @overload
    async def all(
        self,
        a: StepOp[T1, E_contra],
        b: StepOp[T2, E_contra],
        c: StepOp[T3, E_contra],
        /,
        *,
        name: str | None = None,
    ) -> tuple[T1, T2, T3]: ...

    @overload
    async def all(
        self,
        a: StepOp[T1, E_contra],
        b: StepOp[T2, E_contra],
        c: StepOp[T3, E_contra],
        d: StepOp[T4, E_contra],
        /,
        *,
        name: str | None = None,
    ) -> tuple[T1, T2, T3, T4]: ...

    @overload
    async def all(
        self,
        a: StepOp[T1, E_contra],
        b: StepOp[T2, E_contra],
        c: StepOp[T3, E_contra],
        d: StepOp[T4, E_contra],
        e: StepOp[T5, E_contra],
        /,
        *,
        name: str | None = None,
    ) -> tuple[T1, T2, T3, T4, T5]: ...

    @overload
    async def all(
        self,
        a: StepOp[T1, E_contra],
        b: StepOp[T2, E_contra],
        c: StepOp[T3, E_contra],
        d: StepOp[T4, E_contra],
        e: StepOp[T5, E_contra],
        f: StepOp[T6, E_contra],
        /,
        *,
        name: str | None = None,
    ) -> tuple[T1, T2, T3, T4, T5, T6]: ...

    @overload
    async def all(
        self, *ops: StepOp[object, E_contra], name: str | None = None
    ) -> tuple[object, ...]: ...

    async def all(self, *ops: object, name: str | None = None) -> tuple[object, ...]:
        """Run ops concurrently; the first Err cancels the rest and exits the body."""
        values = await scopes.run_all(self._run, "all", list(ops), name)
        return tuple(self._unwrap(r) for r in values)

    async def parallel(
        self, *, name: str | None = None, **ops: StepOp[object, E_contra]
    ) -> dict[str, object]:
        """Named `all`: returns `{name: value}`. Values are `object`: use `all` for types."""
        labels = list(ops)
        values = await scopes.run_all(self._run, "parallel", list(ops.values()), name, labels)
        return {label: self._unwrap(r) for label, r in zip(labels, values, strict=True)}

    async def race(self, *ops: StepOp[T, E_contra], name: str | None = None) -> T:
        """Run ops concurrently; the first to finish decides (Ok or Err), the rest are cancelled."""
        value: T = self._unwrap(await scopes.run_race(self._run, list(ops), name))
        return value

    async def all_settled(
        self: Step[list[F]], *ops: StepOp[T, F], name: str | None = None
    ) -> list[T]:
        """Run every op to the end; if any failed, exit with `Err([errors...])` in order."""
        results = await scopes.run_settled(self._run, list(ops), name)
        errors = [r.error for r in results if type(r) is Err]
        if errors:
            raise self._run.exit(Err(errors))
        values: list[T] = [r.value for r in results if type(r) is Ok]  # type: ignore[misc]
        return values

    async def map(
        self,
        items: Iterable[U],
        fn: Callable[[U], StepOp[T, E_contra]],
        *,
        concurrency: int | None = None,
        name: str | None = None,
    ) -> list[T]:
        """`fn(item)` for each item, at most `concurrency` at once, in input order, fail fast."""
        make_op = cast("Callable[[object], object]", fn)
        values = await scopes.run_map(self._run, list(items), make_op, concurrency, name or "map")
        return [self._unwrap(r) for r in values]

    # -- conditionals -------------------------------------------------------------------
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
        from resultflow.conditional import conditionals

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
        from resultflow.conditional import conditionals

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
        from resultflow.conditional import conditionals

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
        from resultflow.conditional import conditionals

        helpers = conditionals(self._run.ctx)
        return await helpers.unless_or(cond, thunk, default, name=name, reason=reason)

    # -- internals ------------------------------------------------------------------------
    def _unwrap(self, result: AnyResult) -> Any:
        if type(result) is Ok:
            return result.value
        raise self._run.exit(result)

    def _spec(
        self,
        op: object,
        *,
        key: str | None,
        name: str | None,
        retry: int | RetryPolicy | None,
        timeout: float | Timeout | None,
        policy: Policy | None,
        breaker: Guard | None,
        limiter: Guard | None,
        ttl: float | None,
        description: str | None,
    ) -> StepSpec:
        return build_spec(
            self._run,
            op,
            key=key,
            name=name,
            retry=retry,
            timeout=timeout,
            policy=policy,
            breaker=breaker,
            limiter=limiter,
            ttl=ttl,
            description=description,
        )


def build_spec(
    run: RunState,
    op: object,
    *,
    key: str | None = None,
    name: str | None = None,
    retry: int | RetryPolicy | None = None,
    timeout: float | Timeout | None = None,
    policy: Policy | None = None,
    breaker: Guard | None = None,
    limiter: Guard | None = None,
    ttl: float | None = None,
    description: str | None = None,
) -> StepSpec:
    """Resolve run defaults, the step's policy and its explicit options into a `StepSpec`."""
    if (
        retry is None
        and timeout is None
        and policy is None
        and breaker is None
        and limiter is None
        and not run.defaults
    ):
        return StepSpec(key=key, name=name, ttl=ttl, description=description)
    if policy is None and not run.defaults:
        retry_policy = None
        if retry is not None:
            from resultflow.retry import RetryPolicy

            retry_policy = RetryPolicy.coerce(retry)
        spec = StepSpec(
            key=key,
            name=name,
            retry=retry_policy,
            timeout=None if timeout is None else Timeout.coerce(timeout),
            guards=tuple(g for g in (limiter, breaker) if g is not None),
            ttl=ttl,
            description=description,
        )
    else:
        from resultflow.policies import resolve_step_options

        resolved = resolve_step_options(
            run.defaults,
            policy,
            key=key,
            name=name,
            retry=retry,
            timeout=timeout,
            breaker=breaker,
            limiter=limiter,
        )
        spec = spec_from_policy(resolved, ttl=ttl, description=description)
    if spec.retry is not None and _is_bare_awaitable(op):
        from resultflow.pipeline import discard

        discard(op)
        raise TypeError(
            "a step with retry= needs a zero-argument callable that creates the operation "
            "anew for each attempt (e.g. `lambda: fetch(id)`), not an awaitable that can "
            "only be awaited once"
        )
    return spec


def _is_bare_awaitable(op: object) -> bool:
    return not callable(op) and hasattr(op, "__await__")


def _raising_op(
    fn: Callable[[], object], on_error: Callable[[Exception], object]
) -> Callable[[], Awaitable[AnyResult]]:
    import inspect

    async def op() -> AnyResult:
        try:
            value = fn()
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            return Err(on_error(exc), exc)
        return Ok(value)

    return op
