"""Benchmark 2: the retry path through `step(..., retry=...)` against tenacity directly.

Two calls: one that succeeds on the first attempt and one that fails twice then
succeeds, both with zero wait, each repeated `calls` times per measurement.
"""

from __future__ import annotations

from tenacity import AsyncRetrying, stop_after_attempt, wait_none

from bench.timing import Figure, time_async
from resultflow import Err, Ok, Step, run
from resultflow.reliability._retry import RetryPolicy

__all__ = ["measure"]

POLICY = RetryPolicy(attempts=3, backoff="fixed", initial=0.0, jitter=False)


class _Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.count = 0

    def reset(self) -> None:
        self.count = 0

    async def result(self) -> Ok[str] | Err[str]:
        self.count += 1
        return Err("transient") if self.count <= self.failures else Ok("done")

    async def raising(self) -> str:
        self.count += 1
        if self.count <= self.failures:
            raise ConnectionError("transient")
        return "done"


def measure(calls: int = 500, repeat: int = 7) -> list[Figure]:
    """µs per call for our retry step and for tenacity's AsyncRetrying."""
    return [
        _case(0, "succeeds 1st attempt", calls, repeat),
        _case(2, "fails twice", calls, repeat),
    ]


def _case(failures: int, label: str, calls: int, repeat: int) -> Figure:
    flaky = _Flaky(failures)

    async def body(step: Step[str]) -> int:
        for _ in range(calls):
            flaky.reset()
            await step(flaky.result, retry=POLICY)
        return calls

    async def ours() -> object:
        return await run(body)

    async def tenacity_direct() -> object:
        for _ in range(calls):
            flaky.reset()
            async for attempt in AsyncRetrying(stop=stop_after_attempt(3), wait=wait_none()):
                with attempt:
                    await flaky.raising()
        return calls

    mine = time_async(ours, repeat=repeat) / calls * 1e6
    theirs = time_async(tenacity_direct, repeat=repeat) / calls * 1e6
    return Figure(f"retry path, {label} (µs/call)", mine, theirs, "tenacity AsyncRetrying", "µs")
