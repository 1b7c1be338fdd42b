"""Benchmark 4a's peer: the rate aiolimiter's AsyncLimiter admits, measured the same way."""

from __future__ import annotations

import asyncio
import time

from aiolimiter import AsyncLimiter

__all__ = ["measure_aiolimiter"]


def measure_aiolimiter(rate: float = 50.0, seconds: float = 10.0, *, callers: int = 4) -> float:
    """Admitted calls per second of `AsyncLimiter(rate, 1)` over `seconds`, after its burst."""
    return asyncio.run(_run(rate, seconds, callers))


async def _run(rate: float, seconds: float, callers: int) -> float:
    limiter = AsyncLimiter(rate, 1.0)
    for _ in range(int(rate)):  # drain the initial capacity: steady state only
        await limiter.acquire()
    started = time.monotonic()
    deadline = started + seconds
    admitted = 0
    last = started

    async def caller() -> None:
        nonlocal admitted, last
        while True:
            await limiter.acquire()
            now = time.monotonic()
            if now > deadline:
                return
            admitted += 1
            last = now

    await asyncio.gather(*(caller() for _ in range(callers)))
    return admitted / (last - started) if last > started else 0.0
