"""Timeouts: `Timeout` options and the primitive that cancels an operation on expiry.

A timed-out operation is cancelled for real (asyncio cancellation of the task running
it), not abandoned; the caller gets `Err(StepTimeout(name, seconds))`. Time is read
through the run's `Clock`, so `TestClock` makes timeouts instant in tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from resultflow._cancellation import cancel_and_wait
from resultflow.clock import Clock, SystemClock

__all__ = ["EXPIRED", "Expired", "Timeout", "within"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Timeout:
    """A step timeout of `seconds`.

    With `per_attempt=True` (the default) each retry attempt gets the full budget; with
    `per_attempt=False` the budget bounds the whole step, waits between attempts included.
    """

    seconds: float
    per_attempt: bool = True

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"a timeout must be positive, got {self.seconds!r}")

    @classmethod
    def coerce(cls, value: float | Timeout) -> Timeout:
        """Accept seconds or a `Timeout`."""
        return value if isinstance(value, Timeout) else cls(float(value))


class Expired:
    """Marker returned by `within` when the deadline passed (the operation was cancelled)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EXPIRED"


EXPIRED = Expired()
"""The one `Expired` instance: compare with `is EXPIRED`."""


async def within(clock: Clock, seconds: float, awaitable: Awaitable[T]) -> T | Expired:
    """Await `awaitable` for at most `seconds`; on expiry cancel it and return `EXPIRED`.

    With the real clock this is `asyncio.timeout` (the current task is cancelled and
    the cancellation is turned back into a normal return). With any other clock the
    operation runs in its own task, raced against `clock.sleep(seconds)`, and is
    cancelled and awaited when the timer wins, so nothing is left running.
    """
    if isinstance(clock, SystemClock):
        scope = asyncio.timeout(seconds)
        try:
            async with scope:
                return await awaitable
        except TimeoutError:
            if scope.expired():
                return EXPIRED
            raise
    return await _race_with_clock(clock, seconds, awaitable)


async def _race_with_clock(clock: Clock, seconds: float, awaitable: Awaitable[T]) -> T | Expired:
    work: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait((work, timer), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        await cancel_and_wait((work, timer))
        raise
    if work.done():
        await cancel_and_wait((timer,))
        return work.result()
    await cancel_and_wait((work,))
    if work.cancelled():
        return EXPIRED
    # The operation finished (or failed) while being cancelled: keep its outcome.
    return work.result()
