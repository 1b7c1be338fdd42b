"""Time sources: the `Clock` protocol every timed feature sleeps and reads through.

Retries, timeouts, sleeps, breakers and limiters all take a `clock=`; the default
`SystemClock` uses real time, and `resultflow.testing.TestClock` uses virtual time so
a test of a 30 s backoff runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """A source of wall and monotonic time that can also sleep."""

    def now(self) -> float:
        """Wall-clock time in epoch seconds (like `time.time()`)."""
        ...

    def monotonic(self) -> float:
        """Monotonic seconds, for measuring durations."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (asyncio)."""
        ...

    def sleep_sync(self, seconds: float) -> None:
        """Wait `seconds`, blocking the thread (used by `run_sync`)."""
        ...


class SystemClock:
    """The real clock: `time.time`, `time.monotonic`, `asyncio.sleep`, `time.sleep`."""

    __slots__ = ()

    def now(self) -> float:
        """Wall-clock time in epoch seconds."""
        return time.time()

    def monotonic(self) -> float:
        """Monotonic seconds."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep with asyncio."""
        await asyncio.sleep(max(0.0, seconds))

    def sleep_sync(self, seconds: float) -> None:
        """Sleep the thread."""
        time.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
"""The shared real clock, the default everywhere a `clock=` is accepted."""
