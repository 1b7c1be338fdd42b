"""Benchmark 4b: circuit breaker overhead per call against pybreaker, and against no breaker."""

from __future__ import annotations

import pybreaker

from bench.timing import Figure, time_async
from resultflow import Ok
from resultflow.reliability._breaker import CircuitBreaker

__all__ = ["measure"]


async def _work() -> Ok[int]:
    return Ok(1)


def _sync_work() -> int:
    return 1


def measure(calls: int = 5000, repeat: int = 7) -> list[Figure]:
    """µs per call through a closed breaker: ours (async) vs pybreaker (sync)."""
    breaker = CircuitBreaker("bench", failure_threshold=5)
    peer = pybreaker.CircuitBreaker(fail_max=5)

    async def bare() -> None:
        for _ in range(calls):
            await _work()

    async def ours() -> None:
        for _ in range(calls):
            await breaker.call_result(_work)

    async def theirs() -> None:
        for _ in range(calls):
            peer.call(_sync_work)

    base = time_async(bare, repeat=repeat)
    mine = (time_async(ours, repeat=repeat) - base) / calls * 1e6
    other = time_async(theirs, repeat=repeat) / calls * 1e6
    return [
        Figure("breaker overhead, closed (µs/call)", mine, other, "pybreaker (sync call)", "µs")
    ]
