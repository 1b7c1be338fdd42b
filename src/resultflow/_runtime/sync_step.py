"""`SyncStep[E]`: the step runner of a synchronous body.

The twin of `Step` for `run_sync`. Its steps go through the same lifecycle as the async
steps (`_runtime.lifecycle.step_flow`), driven by the sync driver: the same cache
lookup, hooks, events, retries (sleeping through `clock.sleep_sync`) and completion,
in the same order. The concurrent and timeout variants exist only on the async `Step`.
"""

from __future__ import annotations

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

from typing_extensions import Unpack

from resultflow._runtime.conditional import SyncConditionalSteps
from resultflow._runtime.drivers import complete
from resultflow._runtime.options import SyncStepOptions, build_sync_spec
from resultflow._runtime.pipeline import AnyResult, StepSpec
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from returns.result import Result as ReturnsResult

__all__ = ["SyncStep"]

T = TypeVar("T")
F = TypeVar("F")
E_contra = TypeVar("E_contra", contravariant=True)

Backoff: TypeAlias = Literal["exponential", "linear", "fixed"]


class SyncStep(SyncConditionalSteps[E_contra]):
    """The step runner of a synchronous body; `E` is the body's error union.

    Its `context` is the run's context; listeners are called with `emit_sync`. The
    conditional steps (`when`, `unless`, ...) come from `SyncConditionalSteps`.
    """

    __slots__ = ()

    @overload
    def __call__(
        self,
        op: Ok[T] | Err[E_contra] | Callable[[], Ok[T] | Err[E_contra]],
        **options: Unpack[SyncStepOptions],
    ) -> T: ...

    @overload
    def __call__(
        self,
        op: ReturnsResult[T, E_contra] | Callable[[], ReturnsResult[T, E_contra]],
        **options: Unpack[SyncStepOptions],
    ) -> T: ...

    def __call__(self, op: object, **options: Unpack[SyncStepOptions]) -> object:
        """Run `op` as a step: return its Ok value, or end the body with its Err.

        Takes the options of `SyncStepOptions` (`key`, `name`, `retry`, `ttl`,
        `description`); see `Step.__call__`.
        """
        run = self._run
        spec = build_sync_spec(run, op, **options) if options else None
        if run.plain and (spec is None or (spec.plain and spec.key is None)):
            # Fast path: nothing observes this step and it has nothing to cache or retry,
            # so its lifecycle is just running the op once.
            result = run.once_sync(op, None if spec is None else spec.name)
        else:
            result = complete(run.execute(op, spec or StepSpec()))
        if type(result) is Ok:
            return result.value
        raise run.exit(result)

    # -- variants -------------------------------------------------------------------
    @overload
    def try_(
        self, fn: Callable[[], T], *, error: E_contra, **options: Unpack[SyncStepOptions]
    ) -> T: ...

    @overload
    def try_(
        self,
        fn: Callable[[], T],
        *,
        on_error: Callable[[Exception], E_contra],
        **options: Unpack[SyncStepOptions],
    ) -> T: ...

    def try_(
        self,
        fn: Callable[[], object],
        *,
        error: object = None,
        on_error: Callable[[Exception], object] | None = None,
        **options: Unpack[SyncStepOptions],
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

        return self(cast("Any", op), **options)

    def from_result(
        self,
        fn: Ok[T] | Err[F] | Callable[[], Ok[T] | Err[F]],
        *,
        on_error: Callable[[F], E_contra],
        **options: Unpack[SyncStepOptions],
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

        value: T = self(cast("Any", op), **options)
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
