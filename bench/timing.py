"""Timing primitives shared by the benchmarks: repeated measurement, medians, machine facts."""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Figure", "machine", "time_async"]


@dataclass(frozen=True)
class Figure:
    """One row of the report: our number next to a peer's, from the same run."""

    figure: str
    ours: float
    peer: float
    peer_name: str
    unit: str
    note: str = ""

    @property
    def ratio(self) -> float:
        """`ours / peer` (below 1 means we are faster or lower)."""
        return self.ours / self.peer if self.peer else float("inf")

    def as_dict(self) -> dict[str, object]:
        """A JSON-safe dict of the row."""
        return {
            "figure": self.figure,
            "ours": self.ours,
            "peer": self.peer,
            "peer_name": self.peer_name,
            "unit": self.unit,
            "ratio": self.ratio,
            "note": self.note,
        }


def time_async(make: Callable[[], Awaitable[object]], *, repeat: int = 7) -> float:
    """Median wall seconds of `await make()` over `repeat` runs (after one warm-up)."""

    async def measure() -> list[float]:
        await make()
        samples: list[float] = []
        for _ in range(repeat):
            started = time.perf_counter()
            await make()
            samples.append(time.perf_counter() - started)
        return samples

    return statistics.median(asyncio.run(measure()))


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
