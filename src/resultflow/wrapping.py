"""Wrap code that raises or returns None so that it returns a `Result` instead.

- `try_call(fn, *args, **kwargs)` and `await try_async(awaitable)` turn an exception
  into `Err(...)`, with the exception kept as the Err's `cause`;
- `from_optional(value, error)` turns `None` into `Err(error)`;
- `@safe(ExcA, ExcB)` turns a function (sync or async) that raises those exception
  types into one that returns `Result[T, ExcA | ExcB]`.

Only `Exception` subclasses are ever caught: `asyncio.CancelledError`,
`KeyboardInterrupt` and `SystemExit` always pass through.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, ParamSpec, TypeVar, cast, overload

from resultflow.errors import UnexpectedError
from resultflow.result import Err, Ok, Result

__all__ = ["SafeDecorator", "from_optional", "safe", "try_async", "try_call"]

T = TypeVar("T")
E = TypeVar("E")
P = ParamSpec("P")
A1 = TypeVar("A1")
A2 = TypeVar("A2")
A3 = TypeVar("A3")
A4 = TypeVar("A4")
X_co = TypeVar("X_co", bound=Exception, covariant=True)
X1 = TypeVar("X1", bound=Exception)
X2 = TypeVar("X2", bound=Exception)
X3 = TypeVar("X3", bound=Exception)
X4 = TypeVar("X4", bound=Exception)


# -- try_call -----------------------------------------------------------------------------
@overload
def try_call(
    fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
) -> Result[T, UnexpectedError]: ...
@overload
def try_call(fn: Callable[[], T], /, *, on_error: Callable[[Exception], E]) -> Result[T, E]: ...
@overload
def try_call(
    fn: Callable[[A1], T], arg1: A1, /, *, on_error: Callable[[Exception], E]
) -> Result[T, E]: ...
@overload
def try_call(
    fn: Callable[[A1, A2], T], arg1: A1, arg2: A2, /, *, on_error: Callable[[Exception], E]
) -> Result[T, E]: ...
@overload
def try_call(
    fn: Callable[[A1, A2, A3], T],
    arg1: A1,
    arg2: A2,
    arg3: A3,
    /,
    *,
    on_error: Callable[[Exception], E],
) -> Result[T, E]: ...
@overload
def try_call(
    fn: Callable[[A1, A2, A3, A4], T],
    arg1: A1,
    arg2: A2,
    arg3: A3,
    arg4: A4,
    /,
    *,
    on_error: Callable[[Exception], E],
) -> Result[T, E]: ...
def try_call(
    fn: Callable[..., T],
    /,
    *args: Any,
    on_error: Any = None,
    **kwargs: Any,
) -> Result[T, object]:
    """Call `fn(*args, **kwargs)` and return `Ok(its value)` or `Err(...)` if it raised.

    The error is `on_error(exc)` when `on_error` is given, else
    `UnexpectedError.from_exception(exc)`; the exception itself is the Err's `cause`.
    With `on_error`, the type checkers check up to four positional arguments; for more,
    or for keyword arguments, wrap the call in a lambda: `try_call(lambda: f(a, b=c),
    on_error=...)`.
    """
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:
        return Err(_describe(exc, on_error), cause=exc)
    return Ok(value)


# -- try_async ----------------------------------------------------------------------------
@overload
async def try_async(
    awaitable_or_thunk: Awaitable[T] | Callable[[], Awaitable[T]], /
) -> Result[T, UnexpectedError]: ...
@overload
async def try_async(
    awaitable_or_thunk: Awaitable[T] | Callable[[], Awaitable[T]],
    /,
    *,
    on_error: Callable[[Exception], E],
) -> Result[T, E]: ...
async def try_async(
    awaitable_or_thunk: Awaitable[T] | Callable[[], Awaitable[T]],
    /,
    *,
    on_error: Callable[[Exception], object] | None = None,
) -> Result[T, object]:
    """Await an awaitable (or call a zero-argument function and await what it returns).

    Returns `Ok(value)`, or `Err(on_error(exc), cause=exc)` if it raised (an
    `UnexpectedError` without `on_error`). Pass a thunk (`lambda: fetch(id)`) when the
    call itself may raise before returning an awaitable.
    """
    try:
        if callable(awaitable_or_thunk):
            value = await awaitable_or_thunk()
        else:
            value = await awaitable_or_thunk
    except Exception as exc:
        return Err(_describe(exc, on_error), cause=exc)
    return Ok(value)


# -- from_optional ------------------------------------------------------------------------
@overload
def from_optional(value: T | None, error: Callable[[], E]) -> Result[T, E]: ...
@overload
def from_optional(value: T | None, error: E) -> Result[T, E]: ...
def from_optional(value: object, error: object) -> Result[object, object]:
    """Return `Ok(value)`, or `Err(error)` when `value` is None.

    `error` is either the error value itself or a zero-argument callable (a class such
    as `NotFound` or a lambda) that builds it; the callable only runs when needed.
    """
    if value is not None:
        return Ok(value)
    if callable(error):
        return Err(cast("Callable[[], object]", error)())
    return Err(error)


# -- safe ---------------------------------------------------------------------------------
class SafeDecorator(Generic[X_co]):
    """What `safe(...)` returns: a decorator catching the listed exception types.

    Applied to a function it returns a function with the same parameters that returns
    `Ok(value)` or `Err(exc)` for a listed exception (the exception is also the Err's
    `cause`). Applied to an `async def` it returns an `async def` doing the same.
    """

    __slots__ = ("_exception_types",)

    def __init__(self, exception_types: tuple[type[X_co], ...]) -> None:
        self._exception_types = exception_types

    @property
    def exception_types(self) -> tuple[type[X_co], ...]:
        """The exception types turned into `Err`."""
        return self._exception_types

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[P, Coroutine[Any, Any, T]]
    ) -> Callable[P, Coroutine[Any, Any, Result[T, X_co]]]: ...
    @overload
    def __call__(self, fn: Callable[P, T]) -> Callable[P, Result[T, X_co]]: ...
    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        """Wrap `fn` so the listed exceptions come back as `Err(exc)`."""
        caught = self.exception_types
        if _is_async(fn):
            async_fn = cast("Callable[P, Awaitable[object]]", fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Result[object, X_co]:
                try:
                    value = await async_fn(*args, **kwargs)
                except caught as exc:
                    return Err(exc, cause=exc)
                return Ok(value)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Result[object, X_co]:
            try:
                value = fn(*args, **kwargs)
            except caught as exc:
                return Err(exc, cause=exc)
            return Ok(value)

        return wrapper

    def __repr__(self) -> str:
        names = ", ".join(t.__name__ for t in self.exception_types)
        return f"safe({names})"


@overload
def safe(exc1: type[X1], /) -> SafeDecorator[X1]: ...
@overload
def safe(exc1: type[X1], exc2: type[X2], /) -> SafeDecorator[X1 | X2]: ...
@overload
def safe(exc1: type[X1], exc2: type[X2], exc3: type[X3], /) -> SafeDecorator[X1 | X2 | X3]: ...
@overload
def safe(
    exc1: type[X1], exc2: type[X2], exc3: type[X3], exc4: type[X4], /
) -> SafeDecorator[X1 | X2 | X3 | X4]: ...
@overload
def safe(*exception_types: type[Exception]) -> SafeDecorator[Exception]: ...
def safe(*exception_types: type[Exception]) -> SafeDecorator[Exception]:
    """Make a decorator that returns `Err(exc)` for the listed exception types.

    ```python
    @safe(ValueError)
    def parse(text: str) -> int:
        return int(text)

    parse("12")   # Ok(12)
    parse("x")    # Err(ValueError(...)), typed Result[int, ValueError]
    ```

    Exceptions of other types still raise. Works on `async def` functions too.
    """
    if not exception_types:
        raise TypeError("safe() needs at least one exception type, e.g. @safe(ValueError)")
    for exc_type in exception_types:
        candidate = cast("object", exc_type)  # a bare `@safe` passes a function here
        if not (isinstance(candidate, type) and issubclass(candidate, Exception)):
            hint = " (write @safe(SomeError), not @safe)" if callable(exc_type) else ""
            raise TypeError(f"safe() takes Exception subclasses, got {exc_type!r}{hint}")
    return SafeDecorator(exception_types)


# -- internals ----------------------------------------------------------------------------
def _describe(exc: Exception, on_error: Callable[[Exception], object] | None) -> object:
    if on_error is None:
        return UnexpectedError.from_exception(exc)
    return on_error(exc)


def _is_async(fn: object) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )
