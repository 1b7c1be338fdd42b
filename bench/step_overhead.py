"""Benchmark 1: the cost of a step over a bare `await`, against returns and try/except.

Each variant awaits the same coroutine `STEPS` times; the overhead per step is
`(variant - bare) / STEPS`, all measured in the same process, side by side.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import cast

from returns.future import FutureResult
from returns.result import Result as ReturnsResult
from returns.result import Success
from returns.unsafe import unsafe_perform_io

from bench.timing import Figure, time_async
from resultflow import CacheEntry, Err, MemoryCache, Ok, Step, run
from resultflow.events import WorkflowEvent

__all__ = ["measure"]

CHAIN = 50
"""Length of each returns FutureResult chain."""


async def _op(value: int) -> Ok[int] | Err[str]:
    return Ok(value + 1)


async def _returns_op(value: int) -> ReturnsResult[int, str]:
    return Success(value + 1)


# The same coroutine function, typed for the bare baseline: hand-written code that knows
# the call succeeds reads `.value` without a check (a per-call cast would add its cost).
_op_never_fails = cast("Callable[[int], Awaitable[Ok[int]]]", _op)


class _Exit(Exception):
    pass


def _listener(event: WorkflowEvent, ctx: object) -> None:
    return None


def measure(steps: int = 2000, repeat: int = 7) -> list[Figure]:
    """Per-step overhead in µs of run/step (3 modes) and of the peers."""

    async def bare() -> int:
        value = 0
        for _ in range(steps):
            result = await _op_never_fails(value)
            value = result.value
        return value

    async def body(step: Step[str]) -> int:
        value = 0
        for _ in range(steps):
            value = await step(_op(value))
        return value

    async def keyed_body(step: Step[str]) -> int:
        value = 0
        for i in range(steps):
            value = await step(functools.partial(_op, value), key=f"k{i}")
        return value

    cache = MemoryCache(max_size=None)
    for i in range(steps):
        cache.set(f"k{i}", CacheEntry(Ok(i)))

    async def plain_run() -> object:
        return await run(body)

    async def listened_run() -> object:
        return await run(body, on_event=_listener)

    async def cached_run() -> object:
        return await run(keyed_body, cache=cache)

    async def try_except() -> int:
        value = 0
        try:
            for _ in range(steps):
                result = await _op(value)
                if isinstance(result, Err):
                    raise _Exit(result)
                value = result.value
        except _Exit:
            return -1
        return value

    async def returns_chain() -> object:
        # Chains of CHAIN binds (a single chain of thousands overflows the stack: each
        # bind nests one more awaitable), awaited one after the other.
        value = 0
        for start in range(0, steps, CHAIN):
            chain: FutureResult[int, str] = FutureResult.from_value(value)
            for _ in range(min(CHAIN, steps - start)):
                # returns types `bind` with an unparameterized FutureResult in its Kind.
                chain = chain.bind(  # pyright: ignore[reportUnknownMemberType]
                    lambda v: FutureResult(_returns_op(v))
                )
            value = unsafe_perform_io((await chain.awaitable()).unwrap())
        return value

    base = time_async(bare, repeat=repeat)

    def per_step(make: object) -> float:
        seconds = time_async(make, repeat=repeat)  # type: ignore[arg-type]
        return (seconds - base) / steps * 1e6

    plain = per_step(plain_run)
    listened = per_step(listened_run)
    cached = per_step(cached_run)
    hand = per_step(try_except)
    returns = per_step(returns_chain)
    return [
        Figure(
            "step overhead, no listener (µs/step)", plain, returns, "returns FutureResult", "µs"
        ),
        Figure(
            "step overhead, no listener (µs/step)", plain, hand, "hand-written try/except", "µs"
        ),
        Figure(
            "step overhead, with a listener (µs/step)",
            listened,
            returns,
            "returns FutureResult",
            "µs",
        ),
        Figure("step, memory cache hit (µs/step)", cached, returns, "returns FutureResult", "µs"),
    ]
