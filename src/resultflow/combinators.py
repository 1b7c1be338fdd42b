"""Batch helpers: combine many Results (or awaitables of Results) into one.

| function | result |
| --- | --- |
| `all_ok(results)` | `Ok([values])`, or the first `Err` in input order |
| `all_settled(results)` | `Ok([values])`, or `Err([every error, in order])` |
| `any_ok(results)` | the first `Ok`, or `Err([every error])` (`Err([])` when empty) |
| `partition(results)` | `(values, errors)` |
| `await gather_ok(*aws)` | concurrently; the first `Err` cancels the rest; `Ok(tuple)` |
| `await gather_settled(*aws)` | concurrently; `Ok(tuple)` or `Err([every error, in order])` |
| `await first_ok(*aws)` | concurrently; the first `Ok` cancels the rest, or `Err([errors])` |

The async helpers run each awaitable as a task. When they stop early they cancel the
tasks still running **and wait for them to finish**, so no task outlives the call.
An awaitable that raises (rather than returning an `Err`) is a bug, not an error value:
the other tasks are cancelled and the exception propagates.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Never, TypeVar, cast, overload

from resultflow._cancellation import cancel_and_wait
from resultflow.result import Err, Ok, Result

__all__ = [
    "all_ok",
    "all_settled",
    "any_ok",
    "first_ok",
    "gather_ok",
    "gather_settled",
    "partition",
]

T = TypeVar("T")
E = TypeVar("E")
T1 = TypeVar("T1")
T2 = TypeVar("T2")
T3 = TypeVar("T3")
T4 = TypeVar("T4")
T5 = TypeVar("T5")
T6 = TypeVar("T6")
E1 = TypeVar("E1")
E2 = TypeVar("E2")
E3 = TypeVar("E3")
E4 = TypeVar("E4")
E5 = TypeVar("E5")
E6 = TypeVar("E6")

_AnyResult = Ok[object] | Err[object]


# -- synchronous ----------------------------------------------------------------------------
def all_ok(results: Iterable[Result[T, E]]) -> Result[list[T], E]:
    """Return `Ok([values...])`, or the first `Err` in input order (cause included).

    Stops consuming `results` at the first `Err`. Annotate a list that mixes value or
    error types (`rs: list[Result[int, str]] = [...]`) so both checkers agree on it.
    """
    values: list[T] = []
    for result in results:
        if isinstance(result, Err):
            return result
        values.append(result.value)
    return Ok(values)


def all_settled(results: Iterable[Result[T, E]]) -> Result[list[T], list[E]]:
    """Return `Ok([values...])`, or `Err([every error, in input order])`."""
    values, errors = partition(results)
    if errors:
        return Err(errors)
    return Ok(values)


def any_ok(results: Iterable[Result[T, E]]) -> Result[T, list[E]]:
    """Return the first `Ok`, or `Err([every error, in order])`; empty input is `Err([])`."""
    errors: list[E] = []
    for result in results:
        if isinstance(result, Ok):
            return result
        errors.append(result.error)
    return Err(errors)


def partition(results: Iterable[Result[T, E]]) -> tuple[list[T], list[E]]:
    """Split results into `(values, errors)`, each in input order."""
    values: list[T] = []
    errors: list[E] = []
    for result in results:
        if isinstance(result, Ok):
            values.append(result.value)
        else:
            errors.append(result.error)
    return values, errors


# -- gather_ok --------------------------------------------------------------------------------
@overload
async def gather_ok() -> Result[tuple[()], Never]: ...
@overload
async def gather_ok(aw1: Awaitable[Result[T1, E1]], /) -> Result[tuple[T1], E1]: ...
@overload
async def gather_ok(
    aw1: Awaitable[Result[T1, E1]], aw2: Awaitable[Result[T2, E2]], /
) -> Result[tuple[T1, T2], E1 | E2]: ...
@overload
async def gather_ok(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    /,
) -> Result[tuple[T1, T2, T3], E1 | E2 | E3]: ...
@overload
async def gather_ok(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    /,
) -> Result[tuple[T1, T2, T3, T4], E1 | E2 | E3 | E4]: ...
@overload
async def gather_ok(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    aw5: Awaitable[Result[T5, E5]],
    /,
) -> Result[tuple[T1, T2, T3, T4, T5], E1 | E2 | E3 | E4 | E5]: ...
@overload
async def gather_ok(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    aw5: Awaitable[Result[T5, E5]],
    aw6: Awaitable[Result[T6, E6]],
    /,
) -> Result[tuple[T1, T2, T3, T4, T5, T6], E1 | E2 | E3 | E4 | E5 | E6]: ...
@overload
async def gather_ok(*awaitables: Awaitable[Result[T, E]]) -> Result[tuple[T, ...], E]: ...
async def gather_ok(*awaitables: Awaitable[_AnyResult]) -> Result[object, object]:
    """Await all concurrently; return `Ok(tuple of values)` or the first `Err` to arrive.

    On the first `Err` the awaitables still running are cancelled, and awaited until
    they have finished cancelling, before the `Err` is returned. The tuple is typed
    per position for up to six awaitables.
    """
    results, stopped_at = await _run_concurrently("gather_ok", awaitables, _is_err)
    if stopped_at is not None:
        return results[stopped_at]
    return Ok(tuple(_values(results)))


# -- gather_settled ----------------------------------------------------------------------------
@overload
async def gather_settled() -> Result[tuple[()], list[Never]]: ...
@overload
async def gather_settled(aw1: Awaitable[Result[T1, E1]], /) -> Result[tuple[T1], list[E1]]: ...
@overload
async def gather_settled(
    aw1: Awaitable[Result[T1, E1]], aw2: Awaitable[Result[T2, E2]], /
) -> Result[tuple[T1, T2], list[E1 | E2]]: ...
@overload
async def gather_settled(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    /,
) -> Result[tuple[T1, T2, T3], list[E1 | E2 | E3]]: ...
@overload
async def gather_settled(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    /,
) -> Result[tuple[T1, T2, T3, T4], list[E1 | E2 | E3 | E4]]: ...
@overload
async def gather_settled(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    aw5: Awaitable[Result[T5, E5]],
    /,
) -> Result[tuple[T1, T2, T3, T4, T5], list[E1 | E2 | E3 | E4 | E5]]: ...
@overload
async def gather_settled(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    aw5: Awaitable[Result[T5, E5]],
    aw6: Awaitable[Result[T6, E6]],
    /,
) -> Result[tuple[T1, T2, T3, T4, T5, T6], list[E1 | E2 | E3 | E4 | E5 | E6]]: ...
@overload
async def gather_settled(
    *awaitables: Awaitable[Result[T, E]],
) -> Result[tuple[T, ...], list[E]]: ...
async def gather_settled(*awaitables: Awaitable[_AnyResult]) -> Result[object, object]:
    """Await all concurrently; return `Ok(tuple of values)` or `Err([every error, in order])`.

    The async twin of `all_settled`: every awaitable runs to completion.
    """
    results, _ = await _run_concurrently("gather_settled", awaitables, _never)
    errors = [r.error for r in results if isinstance(r, Err)]
    if errors:
        return Err(errors)
    return Ok(tuple(_values(results)))


# -- first_ok ------------------------------------------------------------------------------------
@overload
async def first_ok() -> Result[Never, list[Never]]: ...
@overload
async def first_ok(aw1: Awaitable[Result[T1, E1]], /) -> Result[T1, list[E1]]: ...
@overload
async def first_ok(
    aw1: Awaitable[Result[T1, E1]], aw2: Awaitable[Result[T2, E2]], /
) -> Result[T1 | T2, list[E1 | E2]]: ...
@overload
async def first_ok(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    /,
) -> Result[T1 | T2 | T3, list[E1 | E2 | E3]]: ...
@overload
async def first_ok(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    /,
) -> Result[T1 | T2 | T3 | T4, list[E1 | E2 | E3 | E4]]: ...
@overload
async def first_ok(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    aw5: Awaitable[Result[T5, E5]],
    /,
) -> Result[T1 | T2 | T3 | T4 | T5, list[E1 | E2 | E3 | E4 | E5]]: ...
@overload
async def first_ok(
    aw1: Awaitable[Result[T1, E1]],
    aw2: Awaitable[Result[T2, E2]],
    aw3: Awaitable[Result[T3, E3]],
    aw4: Awaitable[Result[T4, E4]],
    aw5: Awaitable[Result[T5, E5]],
    aw6: Awaitable[Result[T6, E6]],
    /,
) -> Result[T1 | T2 | T3 | T4 | T5 | T6, list[E1 | E2 | E3 | E4 | E5 | E6]]: ...
@overload
async def first_ok(*awaitables: Awaitable[Result[T, E]]) -> Result[T, list[E]]: ...
async def first_ok(*awaitables: Awaitable[_AnyResult]) -> Result[object, object]:
    """Await all concurrently; return the first `Ok` to arrive, or `Err([every error])`.

    The async twin of `any_ok`: the first `Ok` cancels (and awaits) the rest; errors
    are listed in input order; no awaitables is `Err([])`.
    """
    results, stopped_at = await _run_concurrently("first_ok", awaitables, _is_ok)
    if stopped_at is not None:
        return results[stopped_at]
    return Err([r.error for r in results if isinstance(r, Err)])


# -- the concurrent engine ------------------------------------------------------------------------
def _is_err(result: _AnyResult) -> bool:
    return isinstance(result, Err)


def _is_ok(result: _AnyResult) -> bool:
    return isinstance(result, Ok)


def _never(result: _AnyResult) -> bool:
    return False


def _values(results: Sequence[_AnyResult]) -> list[object]:
    return [r.value for r in results if isinstance(r, Ok)]


async def _run_concurrently(
    caller: str,
    awaitables: Sequence[Awaitable[_AnyResult]],
    stop: Callable[[_AnyResult], bool],
) -> tuple[list[_AnyResult], int | None]:
    """Run every awaitable as a task until all finish or one result satisfies `stop`.

    Returns the results in input order and the index of the stopping result (or None).
    Whatever way this returns or raises, no task it started is left running.
    """
    _check_awaitables(caller, awaitables)
    tasks = [asyncio.ensure_future(aw) for aw in awaitables]
    results: list[_AnyResult | None] = [None] * len(tasks)
    try:
        pending: set[asyncio.Future[_AnyResult]] = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            # Several tasks may finish in one step: look at them in input order.
            for index, task in enumerate(tasks):
                if task not in done:
                    continue
                result = _checked(caller, index, task.result())
                results[index] = result
                if stop(result):
                    return cast("list[_AnyResult]", results), index
        return cast("list[_AnyResult]", results), None
    finally:
        await cancel_and_wait(tasks)


def _check_awaitables(caller: str, awaitables: Sequence[object]) -> None:
    for index, candidate in enumerate(awaitables):
        if not inspect.isawaitable(candidate):
            # Close the coroutines we were given so none warns "never awaited".
            for other in awaitables:
                if inspect.iscoroutine(other):
                    other.close()
            raise TypeError(
                f"{caller}() argument {index + 1} is not awaitable: {candidate!r} "
                "(pass coroutine objects, e.g. fetch(1), not fetch)"
            )


def _checked(caller: str, index: int, value: object) -> _AnyResult:
    if isinstance(value, Ok | Err):
        return cast("_AnyResult", value)
    raise TypeError(
        f"{caller}() argument {index + 1} produced {value!r}, which is not an Ok or an Err"
    )
