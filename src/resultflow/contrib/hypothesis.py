"""Hypothesis strategies for Results, and a reusable check of the Result laws.

```python
from hypothesis import strategies as st
from resultflow.contrib.hypothesis import check_result_laws, results

results(st.integers(), st.text())           # draws Ok(3), Err('x'), ...
check_result_laws(st.integers(), st.text())  # raises AssertionError naming a broken law
```

`check_result_laws` checks the functor and monad laws (`map`, `map_err`, `and_then`,
`or_else`), that the async methods agree with the sync ones, and that equality and
hashing behave, over the value and error types you give it. Use it to confirm your own
value and error types (their `__eq__` and `__hash__` especially) work with Result.
Needs the `hypothesis` package.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, cast

try:
    from hypothesis import given
    from hypothesis import settings as Settings
    from hypothesis import strategies as st
    from hypothesis.strategies import SearchStrategy
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "resultflow.contrib.hypothesis needs hypothesis: pip install hypothesis"
    ) from exc

from resultflow.result import Err, Ok, Result

__all__ = ["check_result_laws", "errs", "oks", "results"]

T = TypeVar("T")
E = TypeVar("E")


def oks(values: SearchStrategy[T]) -> SearchStrategy[Ok[T]]:
    """A strategy for `Ok(value)` with values drawn from `values`."""
    return values.map(Ok)


def errs(
    errors: SearchStrategy[E], causes: SearchStrategy[object] | None = None
) -> SearchStrategy[Err[E]]:
    """A strategy for `Err(error)`; with `causes`, each Err also gets a drawn `cause`."""
    if causes is None:
        return errors.map(Err)
    return st.builds(Err, errors, causes)


def results(
    values: SearchStrategy[T],
    errors: SearchStrategy[E],
    causes: SearchStrategy[object] | None = None,
) -> SearchStrategy[Result[T, E]]:
    """A strategy for `Ok(value)` or `Err(error)` (optionally with a drawn `cause`)."""
    return st.one_of(oks(values), errs(errors, causes))


def check_result_laws(
    values: SearchStrategy[T],
    errors: SearchStrategy[E],
    *,
    settings: Settings | None = None,
) -> None:
    """Check the Result laws for the given value and error types; raise on a violation.

    Each law runs as its own hypothesis test (with `settings` when given, else the
    current profile without a deadline), so a failure reports the law's name and a
    minimal counterexample. Values and errors only need
    `__eq__`; the hashing law is checked for the hashable ones.
    """
    # No deadline by default: generated functions are slow on a busy machine.
    chosen = Settings(deadline=None) if settings is None else settings
    for law in _LawKit(values, errors).laws():
        chosen(law)()


# -- the laws -----------------------------------------------------------------------------


def _unary(arg: object) -> object:
    """The shape of the generated functions (used by `st.functions(like=...)`)."""
    return arg


class _LawKit:
    """Builds one hypothesis test per law over the given strategies."""

    def __init__(self, values: SearchStrategy[Any], errors: SearchStrategy[Any]) -> None:
        causes = st.one_of(st.none(), st.builds(ValueError, st.text(max_size=5)))
        self.results = results(values, errors, causes)
        self.values = values
        self.errors = errors
        self.value_fns = _functions(values)
        self.error_fns = _functions(errors)
        self.chain_fns = _functions(results(values, errors))

    def laws(self) -> list[Callable[[], None]]:
        """Every law, as a zero-argument hypothesis test."""
        r, a, e = self.results, self.values, self.errors
        f, g = self.value_fns, self.error_fns
        k = self.chain_fns
        return [
            given(r)(_map_identity),
            given(r, f, f)(_map_composition),
            given(r)(_map_err_identity),
            given(r, g, g)(_map_err_composition),
            given(a, k)(_and_then_left_identity),
            given(r)(_and_then_right_identity),
            given(r, k, k)(_and_then_associativity),
            given(e, k)(_or_else_left_identity),
            given(r)(_or_else_right_identity),
            given(r, k, k)(_or_else_associativity),
            given(r, f, g, k)(_async_methods_agree),
            given(r)(_equality_and_hash),
        ]


def _check(law: str, left: object, right: object) -> None:
    if not left == right:
        raise AssertionError(f"Result law {law!r} broken: {left!r} != {right!r}")


def _map_identity(r: Result[Any, Any]) -> None:
    _check("map identity", r.map(lambda x: x), r)


def _map_composition(r: Result[Any, Any], f: _Fn, g: _Fn) -> None:
    _check("map composition", r.map(f).map(g), r.map(lambda x: g(f(x))))


def _map_err_identity(r: Result[Any, Any]) -> None:
    _check("map_err identity", r.map_err(lambda x: x), r)


def _map_err_composition(r: Result[Any, Any], f: _Fn, g: _Fn) -> None:
    mapped = r.map_err(f).map_err(g)
    _check("map_err composition", mapped, r.map_err(lambda x: g(f(x))))
    if isinstance(r, Err) and isinstance(mapped, Err) and mapped.cause is not r.cause:
        raise AssertionError(f"Result law 'map_err keeps the cause' broken for {r!r}")


def _and_then_left_identity(a: object, f: _Chain) -> None:
    _check("and_then left identity", Ok(a).and_then(f), f(a))


def _and_then_right_identity(r: Result[Any, Any]) -> None:
    _check("and_then right identity", r.and_then(_as_ok), r)


def _and_then_associativity(r: Result[Any, Any], f: _Chain, g: _Chain) -> None:
    left = r.and_then(f).and_then(g)
    _check("and_then associativity", left, r.and_then(lambda x: f(x).and_then(g)))


def _or_else_left_identity(e: object, f: _Chain) -> None:
    _check("or_else left identity", Err(e).or_else(f), f(e))


def _or_else_right_identity(r: Result[Any, Any]) -> None:
    _check("or_else right identity", r.or_else(_as_err), r)


def _or_else_associativity(r: Result[Any, Any], f: _Chain, g: _Chain) -> None:
    left = r.or_else(f).or_else(g)
    _check("or_else associativity", left, r.or_else(lambda x: f(x).or_else(g)))


def _async_methods_agree(r: Result[Any, Any], f: _Fn, g: _Fn, k: _Chain) -> None:
    _check("map_async agrees with map", _drive(r.map_async(_async(f))), r.map(f))
    _check("map_err_async agrees", _drive(r.map_err_async(_async(g))), r.map_err(g))
    _check("and_then_async agrees", _drive(r.and_then_async(_async(k))), r.and_then(k))
    _check("or_else_async agrees", _drive(r.or_else_async(_async(k))), r.or_else(k))


def _equality_and_hash(r: Result[Any, Any]) -> None:
    twin = copy.copy(r)
    _check("equality is reflexive", r, r)
    _check("a copy is equal", twin, r)
    if r != twin:
        raise AssertionError(f"Result law '!= agrees with ==' broken for {r!r}")
    if isinstance(r, Ok):
        _check("Ok is never equal to Err", r == Err(r.value), False)
    else:
        _check("Err is never equal to Ok", r == Ok(r.error), False)
    try:
        hashes = (hash(r), hash(twin))
    except TypeError:
        return  # an unhashable value: the Result is unhashable too, which is fine
    _check("equal results hash equal", hashes[0], hashes[1])


def _as_ok(value: Any) -> Result[Any, Any]:
    return Ok(value)


def _as_err(error: Any) -> Result[Any, Any]:
    return Err(error)


# -- generated functions -----------------------------------------------------------------

_Fn = Callable[[Any], Any]
_Chain = Callable[[Any], Result[Any, Any]]


def _functions(returns: SearchStrategy[T]) -> SearchStrategy[Callable[[object], T]]:
    """Deterministic generated functions, even for unhashable arguments."""
    return st.functions(like=_unary, returns=returns).map(_memoized)


def _memoized(fn: Callable[[object], T]) -> Callable[[object], T]:
    """Make a generated function pure: equal arguments give the same return value.

    Hypothesis' own `pure=True` needs hashable arguments; this compares with `==`.
    """
    seen: list[tuple[object, T]] = []

    def pure(arg: object) -> T:
        for known, result in seen:
            if known == arg:
                return result
        result = fn(arg)
        seen.append((arg, result))
        return result

    return pure


def _async(fn: Callable[[Any], T]) -> Callable[[Any], Awaitable[T]]:
    async def wrapper(arg: Any) -> T:
        return fn(arg)

    return wrapper


def _drive(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return cast("T", stop.value)
    coroutine.close()
    raise AssertionError("an async Result method suspended with no reason to")
