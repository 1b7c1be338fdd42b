"""`Ok`, `Err` and `Result`: values that say whether an operation worked.

`Result[T, E]` is the plain union `Ok[T] | Err[E]`, so any `Ok(...)` is a valid
`Result` with no helper, and both mypy and pyright narrow it with `isinstance`,
`match`, the `is_ok` / `is_err` guards, or `r.ok is True`.

Truthiness is deliberately not defined: `if result:` raises `TypeError`, because it
would silently be true for an `Err` in most other libraries' designs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    Literal,
    Never,
    NoReturn,
    Self,
    TypeAlias,
    cast,
    final,
)

from typing_extensions import TypeIs, TypeVar

__all__ = ["Err", "Ok", "Result", "UnwrapError", "is_err", "is_ok"]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
F = TypeVar("F")
# `and_then`/`or_else` infer the new Ok and Err types from what the function returns; a
# lambda that returns only `Ok(...)` leaves the Err type unsolved (only `Err(...)`, the
# Ok type): the default makes that `Err[Never]`, where pyright would otherwise say
# `Err[Unknown]` (an error under strict).
NewT = TypeVar("NewT", default=Never)
NewE = TypeVar("NewE", default=Never)
V = TypeVar("V")
T_co = TypeVar("T_co", covariant=True)
E_co = TypeVar("E_co", covariant=True)

_Ignored: TypeAlias = Any
"""The parameter type of a callback the receiving class never calls (`Err.map`, `Ok.map_err`).

On a `Result[T, E]` (the union `Ok[T] | Err[E]`) a method call is checked against both
classes, and a lambda argument is inferred once per class. `Never` there made any use
of the parameter an error under pyright (`lambda row: User(*row)`: "Never is not
iterable") and mypy (`lambda xs: [x for x in xs]`: "need type annotation"), although
the lambda is only ever called by the other class, with the right type. `Any` lets the
ignored side accept every lambda; the side that calls it still checks it.
"""

_BOOL_MESSAGE = (
    "a Result has no truth value; test it with isinstance(r, Ok), is_ok(r), "
    "`r.ok is True` or a match statement"
)


class ResultflowError(Exception):
    """The root of every exception resultflow raises (error values are `TaggedError`s).

    The exception tree is drawn in `resultflow.errors`, which re-exports this class.
    It is defined here, in the lowest module, because `UnwrapError` is raised by the
    Result methods themselves: the core then has no import cycle.
    """


class UnwrapError(ResultflowError):
    """Raised by `unwrap`, `unwrap_err` and `expect` on the wrong variant.

    It carries the result that was unwrapped in `.result`.
    """

    def __init__(self, message: str, result: Ok[object] | Err[object]) -> None:
        super().__init__(message)
        self.result = result


@final
class Ok(Generic[T_co]):
    """A successful result holding `value`."""

    __slots__ = ("_value",)
    __match_args__ = ("value",)

    ok: ClassVar[Literal[True]] = True
    _value: T_co

    def __init__(self, value: T_co) -> None:
        object.__setattr__(self, "_value", value)

    @property
    def value(self) -> T_co:
        """The success value."""
        return self._value

    # -- protocol -----------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Ok({self._value!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is Ok and bool(self._value == cast("Ok[object]", other)._value)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((Ok, self._value))

    def __bool__(self) -> NoReturn:
        raise TypeError(_BOOL_MESSAGE)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Ok is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Ok is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[Ok[Any]], tuple[T_co]]:
        return (Ok, (self._value,))

    # -- transforming ---------------------------------------------------------------
    def map(self, f: Callable[[T_co], U]) -> Ok[U]:
        """Return `Ok(f(value))`."""
        return Ok(f(self._value))

    def map_err(self, f: Callable[[_Ignored], object]) -> Self:
        """Return self unchanged: there is no error to map."""
        return self

    def and_then(self, f: Callable[[T_co], Ok[NewT] | Err[NewE]]) -> Ok[NewT] | Err[NewE]:
        """Chain a Result-returning function on the value."""
        return f(self._value)

    def or_else(self, f: Callable[[_Ignored], object]) -> Self:
        """Return self unchanged: there is nothing to recover from."""
        return self

    def tap(self, f: Callable[[T_co], object]) -> Self:
        """Call `f(value)` for its side effects and return self."""
        f(self._value)
        return self

    def tap_err(self, f: Callable[[_Ignored], object]) -> Self:
        """Return self: `f` only runs on an Err."""
        return self

    # -- async transforming -----------------------------------------------------------
    async def map_async(self, f: Callable[[T_co], Awaitable[U]]) -> Ok[U]:
        """Return `Ok(await f(value))`."""
        return Ok(await f(self._value))

    async def map_err_async(self, f: Callable[[_Ignored], Awaitable[object]]) -> Self:
        """Return self unchanged."""
        return self

    async def and_then_async(
        self, f: Callable[[T_co], Awaitable[Ok[NewT] | Err[NewE]]]
    ) -> Ok[NewT] | Err[NewE]:
        """Chain an async Result-returning function on the value."""
        return await f(self._value)

    async def or_else_async(self, f: Callable[[_Ignored], Awaitable[object]]) -> Self:
        """Return self unchanged."""
        return self

    # -- extracting --------------------------------------------------------------------
    def unwrap(self) -> T_co:
        """Return the value."""
        return self._value

    def unwrap_err(self) -> NoReturn:
        """Raise `UnwrapError`: an Ok has no error."""
        raise UnwrapError(f"called unwrap_err() on {self!r}", self)

    def unwrap_or(self, default: U) -> T_co | U:
        """Return the value (the default is ignored)."""
        return self._value

    def unwrap_or_else(self, f: Callable[[_Ignored], U]) -> T_co | U:
        """Return the value (`f` is not called)."""
        return self._value

    def expect(self, message: str) -> T_co:
        """Return the value."""
        return self._value

    def match(self, *, ok: Callable[[T_co], U], err: Callable[[_Ignored], V]) -> U | V:
        """Return `ok(value)`."""
        return ok(self._value)

    def ok_or_none(self) -> T_co:
        """Return the value."""
        return self._value

    def err_or_none(self) -> None:
        """Return None: an Ok has no error."""
        return


@final
class Err(Generic[E_co]):
    """A failed result holding `error`, and optionally the `cause` behind it.

    `cause` is the original exception (or any value) the error was made from; it is
    informational only and not part of equality or hashing.
    """

    __slots__ = ("_cause", "_error")
    __match_args__ = ("error",)

    ok: ClassVar[Literal[False]] = False
    _error: E_co
    _cause: object

    def __init__(self, error: E_co, cause: object = None) -> None:
        object.__setattr__(self, "_error", error)
        object.__setattr__(self, "_cause", cause)

    @property
    def error(self) -> E_co:
        """The error value."""
        return self._error

    @property
    def cause(self) -> object:
        """The exception or value behind the error, or None."""
        return self._cause

    # -- protocol -----------------------------------------------------------------
    def __repr__(self) -> str:
        return f"Err({self._error!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is Err and bool(self._error == cast("Err[object]", other)._error)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash((Err, self._error))

    def __bool__(self) -> NoReturn:
        raise TypeError(_BOOL_MESSAGE)

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"Err is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"Err is immutable; cannot delete {name!r}")

    def __reduce__(self) -> tuple[type[Err[Any]], tuple[E_co, object]]:
        return (Err, (self._error, self._cause))

    # -- transforming ---------------------------------------------------------------
    def map(self, f: Callable[[_Ignored], object]) -> Self:
        """Return self unchanged: there is no value to map."""
        return self

    def map_err(self, f: Callable[[E_co], F]) -> Err[F]:
        """Return `Err(f(error))`, keeping the cause."""
        return Err(f(self._error), self._cause)

    def and_then(self, f: Callable[[_Ignored], object]) -> Self:
        """Return self: the chain stops at the first Err."""
        return self

    def or_else(self, f: Callable[[E_co], Ok[NewT] | Err[NewE]]) -> Ok[NewT] | Err[NewE]:
        """Recover with a Result-returning function of the error."""
        return f(self._error)

    def tap(self, f: Callable[[_Ignored], object]) -> Self:
        """Return self: `f` only runs on an Ok."""
        return self

    def tap_err(self, f: Callable[[E_co], object]) -> Self:
        """Call `f(error)` for its side effects and return self."""
        f(self._error)
        return self

    # -- async transforming -----------------------------------------------------------
    async def map_async(self, f: Callable[[_Ignored], Awaitable[object]]) -> Self:
        """Return self unchanged."""
        return self

    async def map_err_async(self, f: Callable[[E_co], Awaitable[F]]) -> Err[F]:
        """Return `Err(await f(error))`, keeping the cause."""
        return Err(await f(self._error), self._cause)

    async def and_then_async(self, f: Callable[[_Ignored], Awaitable[object]]) -> Self:
        """Return self unchanged."""
        return self

    async def or_else_async(
        self, f: Callable[[E_co], Awaitable[Ok[NewT] | Err[NewE]]]
    ) -> Ok[NewT] | Err[NewE]:
        """Recover with an async Result-returning function of the error."""
        return await f(self._error)

    # -- extracting --------------------------------------------------------------------
    def unwrap(self) -> NoReturn:
        """Raise `UnwrapError` carrying this Err."""
        raise UnwrapError(f"called unwrap() on {self!r}", self)

    def unwrap_err(self) -> E_co:
        """Return the error."""
        return self._error

    def unwrap_or(self, default: U) -> U:
        """Return the default."""
        return default

    def unwrap_or_else(self, f: Callable[[E_co], U]) -> U:
        """Return `f(error)`."""
        return f(self._error)

    def expect(self, message: str) -> NoReturn:
        """Raise `UnwrapError(message)` carrying this Err."""
        raise UnwrapError(message, self)

    def match(self, *, ok: Callable[[_Ignored], U], err: Callable[[E_co], V]) -> U | V:
        """Return `err(error)`."""
        return err(self._error)

    def ok_or_none(self) -> None:
        """Return None: an Err has no value."""
        return

    def err_or_none(self) -> E_co:
        """Return the error."""
        return self._error


Result: TypeAlias = Ok[T] | Err[E]
"""`Ok[T] | Err[E]`: the value of an operation that may fail with `E`."""


def is_ok(result: Ok[T] | Err[E]) -> TypeIs[Ok[T]]:
    """Return True for an `Ok`, narrowing the type for both checkers."""
    return type(result) is Ok


def is_err(result: Ok[T] | Err[E]) -> TypeIs[Err[E]]:
    """Return True for an `Err`, narrowing the type for both checkers."""
    return type(result) is Err


if TYPE_CHECKING:  # pragma: no cover - a compile-time check that Ok fits Result
    _check: Result[int, str] = Ok(1)
