"""`MockFn` / `AsyncMockFn`: typed stand-ins for the functions a workflow's steps call.

```python
fetch_user: AsyncMockFn[Result[User, NotFound]] = mock_fn(Ok(ann), is_async=True)
fetch_user.returns_once(Err(NotFound(id="u1")))   # the first call fails, then Ok(ann)

result = await run(body)                          # body does: await step(lambda: fetch_user("u1"))
assert fetch_user.call_count() == 2
assert fetch_user.calls()[0].args == ("u1",)
```

A mock answers each call with, in this order: the next queued once-answer
(`returns_once` / `raises_once`), else its standing answer (`returns` / `raises`).
A mock with neither raises `UnconfiguredMock`, naming itself.

`MockFn[R]` is called synchronously (`fn(x) -> R`); `AsyncMockFn[R]` returns a
coroutine (`await fn(x) -> R`). Both record every call, even one that raises.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Generic, Literal, Self, TypeVar, overload

from resultflow.errors import ResultflowError
from resultflow.testing._invocation import AssertionReport

__all__ = ["AsyncMockFn", "Call", "MockFn", "UnconfiguredMock", "mock_fn"]

R = TypeVar("R")


class UnconfiguredMock(ResultflowError, LookupError):
    """A mock was called with no answer configured (no `returns`, `raises` or once-answer)."""


@dataclass(frozen=True, slots=True)
class Call:
    """One call of a mock: its positional and keyword arguments."""

    args: tuple[object, ...]
    kwargs: Mapping[str, object] = field(default_factory=dict[str, object])

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"call({', '.join(parts)})"


@dataclass(frozen=True, slots=True)
class _Answer(Generic[R]):
    """A configured reply: return `value`, or raise `exception` when it is set."""

    value: R | None = None
    exception: Exception | None = None

    def give(self) -> R:
        if self.exception is not None:
            raise self.exception
        return self.value  # type: ignore[return-value]


class _MockBase(Generic[R]):
    """The configuration and call record shared by `MockFn` and `AsyncMockFn`."""

    def __init__(self, *, name: str = "mock_fn") -> None:
        self.name = name
        self._once: deque[_Answer[R]] = deque()
        self._standing: _Answer[R] | None = None
        self._calls: list[Call] = []

    # -- configuring ------------------------------------------------------------------
    def returns(self, result: R) -> Self:
        """Answer every call with `result` (after any queued once-answers)."""
        self._standing = _Answer(value=result)
        return self

    def returns_once(self, result: R) -> Self:
        """Queue `result` as the answer to one call; queued answers go first, in order."""
        self._once.append(_Answer(value=result))
        return self

    def raises(self, exception: Exception) -> Self:
        """Raise `exception` on every call (after any queued once-answers)."""
        self._standing = _Answer(exception=_checked(exception))
        return self

    def raises_once(self, exception: Exception) -> Self:
        """Queue a call that raises `exception`."""
        self._once.append(_Answer(exception=_checked(exception)))
        return self

    # -- inspecting -------------------------------------------------------------------
    def calls(self) -> list[Call]:
        """Every call so far, in order."""
        return list(self._calls)

    def call_count(self) -> int:
        """How many times the mock was called."""
        return len(self._calls)

    def assert_called(self, times: int | None = None) -> AssertionReport:
        """Pass when the mock was called at least once, or exactly `times` times."""
        count = len(self._calls)
        ok = count > 0 if times is None else count == times
        wanted = "at least once" if times is None else f"{times} time(s)"
        return AssertionReport(
            ok, f"{self.name} was called {count} time(s), expected {wanted}: {self._calls}"
        )

    def assert_called_with(self, *args: object, **kwargs: object) -> AssertionReport:
        """Pass when the last call had exactly these arguments."""
        wanted = Call(args, kwargs)
        if not self._calls:
            return AssertionReport(False, f"{self.name} was never called; expected {wanted!r}")
        last = self._calls[-1]
        if last.args == wanted.args and dict(last.kwargs) == kwargs:
            return AssertionReport(True, f"{self.name} was last called with {wanted!r}")
        return AssertionReport(
            False, f"{self.name} was last called with {last!r}, expected {wanted!r}"
        )

    # -- resetting --------------------------------------------------------------------
    def clear_calls(self) -> None:
        """Forget the recorded calls, keeping the configured answers."""
        self._calls.clear()

    def reset(self) -> None:
        """Forget the calls and every configured answer: back to a new, unconfigured mock."""
        self._calls.clear()
        self._once.clear()
        self._standing = None

    # -- internals --------------------------------------------------------------------
    def _answer(self, args: tuple[object, ...], kwargs: dict[str, object]) -> _Answer[R]:
        self._calls.append(Call(args, kwargs))
        if self._once:
            return self._once.popleft()
        if self._standing is not None:
            return self._standing
        raise UnconfiguredMock(
            f"{self.name} was called with {self._calls[-1]!r} but has no answer: "
            "configure it with returns(...), returns_once(...), raises(...) or raises_once(...)"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} calls={len(self._calls)}>"


class MockFn(_MockBase[R]):
    """A synchronous mock: `fn(*args, **kwargs)` records the call and returns an `R`."""

    def __call__(self, *args: object, **kwargs: object) -> R:
        return self._answer(args, kwargs).give()


class AsyncMockFn(_MockBase[R]):
    """An async mock: `await fn(*args, **kwargs)` returns an `R`.

    The call is recorded (and its answer chosen) when `fn(...)` is called, not when the
    coroutine is awaited, so calls keep their order even if they are awaited later.
    """

    def __call__(self, *args: object, **kwargs: object) -> Coroutine[object, object, R]:
        return _resolve(self._answer(args, kwargs))


async def _resolve(answer: _Answer[R]) -> R:
    return answer.give()


class _NoAnswer:
    """The marker for "no standing answer given" (None is a valid answer)."""


_NO_ANSWER = _NoAnswer()


# Without `returns`, R is solved from the annotated target: `m: MockFn[X] = mock_fn()`.
@overload
def mock_fn(*, is_async: Literal[False] = False, name: str = "mock_fn") -> MockFn[R]: ...  # pyright: ignore[reportInvalidTypeVarUse]


@overload
def mock_fn(*, is_async: Literal[True], name: str = "mock_fn") -> AsyncMockFn[R]: ...  # pyright: ignore[reportInvalidTypeVarUse]


@overload
def mock_fn(
    returns: R, /, *, is_async: Literal[False] = False, name: str = "mock_fn"
) -> MockFn[R]: ...


@overload
def mock_fn(returns: R, /, *, is_async: Literal[True], name: str = "mock_fn") -> AsyncMockFn[R]: ...


def mock_fn(
    returns: R | _NoAnswer = _NO_ANSWER, /, *, is_async: bool = False, name: str = "mock_fn"
) -> MockFn[R] | AsyncMockFn[R]:
    """A mock (sync, or async with `is_async=True`), answering every call with `returns`.

    Its type is inferred from `returns`; to allow other answers (an Err as well as an
    Ok), annotate the variable or build the class directly:
    `MockFn[Result[int, NotFound]](name="lookup").returns(Ok(1))`. Without `returns`
    the mock starts unconfigured (`lookup: MockFn[Result[int, NotFound]] = mock_fn()`,
    then `returns(...)` / `returns_once(...)`); calling it before that raises
    `UnconfiguredMock`.
    """
    mock: MockFn[R] | AsyncMockFn[R] = AsyncMockFn(name=name) if is_async else MockFn(name=name)
    if isinstance(returns, _NoAnswer):
        return mock
    return mock.returns(returns)


def _checked(exception: Exception) -> Exception:
    if not isinstance(exception, Exception):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise TypeError(f"raises() needs an Exception instance, not {exception!r}")
    return exception
