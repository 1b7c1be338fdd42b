"""`Step[E]`: the callable a workflow body uses to unwrap results.

`await step(op)` returns the Ok value of `op` or stops the body, making `run` return
that Err. `E` is the body's declared error union: a step whose error type is outside
it is rejected by mypy and pyright, because `Step` is contravariant in `E`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeAlias, TypeVar, cast, overload

from typing_extensions import Unpack

from resultflow._runtime.conditional import ConditionalSteps
from resultflow._runtime.options import StepOptions, StepOptionsWithoutRetry, build_spec
from resultflow._runtime.pipeline import AnyResult, StepOp
from resultflow._runtime.scopes import ConcurrentSteps
from resultflow._runtime.step_ops import ErrorMapping
from resultflow.reliability._timeout import Timeout
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from returns.result import Result as ReturnsResult

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
    async def __call__(self, op: Ok[T] | Err[E_contra], **options: Unpack[StepOptions]) -> T: ...

    @overload
    async def __call__(
        self,
        op: Callable[[], Awaitable[Ok[T] | Err[E_contra]]],
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def __call__(
        self, op: Callable[[], Ok[T] | Err[E_contra]], **options: Unpack[StepOptions]
    ) -> T: ...

    @overload
    async def __call__(
        self, op: Awaitable[Ok[T] | Err[E_contra]], **options: Unpack[StepOptionsWithoutRetry]
    ) -> T: ...

    @overload
    async def __call__(
        self,
        op: ReturnsResult[T, E_contra] | Callable[[], ReturnsResult[T, E_contra]],
        **options: Unpack[StepOptions],
    ) -> T: ...

    async def __call__(self, op: object, **options: Unpack[StepOptions]) -> object:
        """Run `op` as a step: return its Ok value, or end the body with its Err.

        Args:
            op: A `Result`, an awaitable of one, or a zero-argument callable returning
                either (sync or async); a `returns` Result works too. Only a callable
                can be retried or skipped by a cache hit without being created.
            **options: The step options (`StepOptions`), all keyword-only and None by
                default: `key`, `name`, `retry`, `timeout`, `policy`, `breaker`,
                `limiter`, `ttl`, `description`; see the keyword arguments below.

        Keyword Args:
            key (str | None): Cache and resume key. With a cache, a second step with
                the same key in a run is a cache hit; a keyed step emits
                `step_complete`.
            name (str | None): The step's name in events, errors and devtools.
            retry (int | RetryPolicy | None): Attempts (an int) or a `RetryPolicy`;
                `op` must then be a callable.
            timeout (float | Timeout | None): Seconds or a `Timeout`. On expiry the op
                is cancelled and the step is `Err(StepTimeout)`.
            policy (Policy | None): A `Policy` (retry, timeout, guards, name, key).
                The explicit options win over it; it wins over the run's `policies=`.
            breaker (Guard | None): A circuit breaker every attempt runs through.
            limiter (Guard | None): A rate or concurrency limiter every attempt runs
                through (outside the breaker).
            ttl (float | None): Seconds a keyed step's cached result stays valid.
            description (str | None): Free text about the step, for people reading
                its events.

        Returns:
            The Ok value of `op`.

        Raises:
            TypeError: `retry` with a bare awaitable (it can be awaited only once), or
                an unknown option. Everything `op` raises becomes an `UnexpectedError`
                Err that ends the run instead.
        """
        run = self._run
        if options:
            spec = build_spec(run, op, **options)
            if not (run.plain and spec.plain and spec.key is None):
                return self._unwrap(await run.execute(op, spec))
            name = spec.name
        elif run.plain:
            name = None
        else:
            return self._unwrap(await run.execute(op, build_spec(run, op)))
        # Fast path: nothing observes, keys or wraps this step.
        kind = type(op)
        result = cast("AnyResult", op) if kind is Ok or kind is Err else await run.once(op, name)
        if type(result) is Ok:
            return result.value
        raise run.exit(result)

    # -- variants -------------------------------------------------------------------
    @overload
    async def try_(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        error: E_contra,
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def try_(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        on_error: Callable[[Exception], E_contra],
        **options: Unpack[StepOptions],
    ) -> T: ...

    @overload
    async def try_(
        self, fn: Callable[[], T], *, error: E_contra, **options: Unpack[StepOptions]
    ) -> T: ...

    @overload
    async def try_(
        self,
        fn: Callable[[], T],
        *,
        on_error: Callable[[Exception], E_contra],
        **options: Unpack[StepOptions],
    ) -> T: ...

    async def try_(
        self,
        fn: Callable[[], object],
        *,
        error: object = None,
        on_error: Callable[[Exception], object] | None = None,
        **options: Unpack[StepOptions],
    ) -> object:
        """Run a function that raises: its exceptions become `Err(error)` / `Err(on_error(exc))`.

        Takes the step options of `step(...)`.
        """
        if not callable(fn):
            raise TypeError("step.try_ needs a zero-argument callable")
        mapper: Callable[[Exception], object] = on_error or (lambda _exc: error)
        op: Any = _raising_op(fn, mapper)
        return await self(op, **options)

    async def from_result(
        self,
        fn: StepOp[T, F],
        *,
        on_error: Callable[[F], E_contra],
        **options: Unpack[StepOptions],
    ) -> T:
        """Run a Result-returning op and map its error into the body's error union.

        Takes the step options of `step(...)`.
        """
        op: Any = ErrorMapping(fn, cast("Callable[[object], object]", on_error))
        value: T = await self(op, **options)
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
        **options: Unpack[StepOptionsWithoutRetry],
    ) -> T:
        """Shorthand for `step(fn, retry=RetryPolicy(attempts, backoff, ...))`.

        Takes the other step options of `step(...)`.
        """
        from resultflow.reliability._retry import RetryPolicy

        policy = RetryPolicy(
            attempts=attempts,
            backoff=backoff,
            initial=initial,
            max_delay=max_delay,
            jitter=jitter,
            retry_on=retry_on,
        )
        return await self(fn, retry=policy, **options)

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
