"""`Step[E]`: the callable a workflow body uses to unwrap results.

`await step(op)` returns the Ok value of `op` or stops the body, making `run` return
that Err. `E` is the body's declared error union: a step whose error type is outside
it is rejected by mypy and pyright, because `Step` is contravariant in `E`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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

from resultflow._runtime.conditional import ConditionalSteps
from resultflow._runtime.pipeline import AnyResult, RunState, StepOp, StepSpec, spec_from_policy
from resultflow._runtime.scopes import ConcurrentSteps
from resultflow._runtime.step_ops import ErrorMapping, discard, is_bare_awaitable
from resultflow.reliability._timeout import Timeout
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from returns.result import Result as ReturnsResult

    from resultflow.reliability._guard import Guard
    from resultflow.reliability._policies import Policy
    from resultflow.reliability._retry import RetryPolicy

__all__ = ["Step", "StepOp"]

T = TypeVar("T")
F = TypeVar("F")
E_contra = TypeVar("E_contra", contravariant=True)


Backoff: TypeAlias = Literal["exponential", "linear", "fixed"]


class Step(ConcurrentSteps[E_contra], ConditionalSteps[E_contra]):
    """The step runner handed to a workflow body; `E` is the body's error union.

    `await step(op)` unwraps `op`'s Ok value or stops the body with its Err. The
    concurrent variants (`all`, `parallel`, `race`, `all_settled`, `map`) come from
    `ConcurrentSteps`, the conditionals (`when`, `unless`, ...) from `ConditionalSteps`.
    """

    __slots__ = ()

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
        unwrapped = (
            retry is None
            and timeout is None
            and policy is None
            and breaker is None
            and limiter is None
            and not run.defaults
        )
        if unwrapped and key is None and run.plain:
            # Fast path: nothing observes or wraps this step.
            kind = type(op)
            result = (
                cast("AnyResult", op) if kind is Ok or kind is Err else await run.once(op, name)
            )
            if type(result) is Ok:
                return result.value
            raise run.exit(result)
        if unwrapped:  # observed or keyed, but no reliability options to resolve
            return self._unwrap(await run.execute(op, StepSpec(key, name, None, None, (), ttl)))
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
        op: Any = ErrorMapping(fn, cast("Callable[[object], object]", on_error))
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
        from resultflow.reliability._retry import RetryPolicy

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

    # -- internals ------------------------------------------------------------------------
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
            from resultflow.reliability._retry import RetryPolicy

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
        from resultflow.reliability._policies import resolve_step_options

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
    if spec.retry is not None and is_bare_awaitable(op):
        discard(op)
        raise TypeError(
            "a step with retry= needs a zero-argument callable that creates the operation "
            "anew for each attempt (e.g. `lambda: fetch(id)`), not an awaitable that can "
            "only be awaited once"
        )
    return spec


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
