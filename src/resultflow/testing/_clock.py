"""`TestClock`: virtual time for tests of retries, timeouts, sleeps, breakers and limiters."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Sized

__all__ = ["TestClock"]

# How many idle event-loop passes the auto-jump waits before firing the next timer,
# so that work which is merely runnable (not waiting on time) gets to finish first.
_SETTLE_PASSES = 3


class TestClock:
    """A `Clock` whose time moves only when something sleeps or `advance()` is called.

    With `autojump=True` (the default) an `await clock.sleep(s)` returns at once in
    real time: once the event loop has nothing else to do, virtual time jumps to the
    earliest pending deadline and that sleeper wakes. Sleepers wake in deadline order,
    so a 5 s timeout fires before a 10 s operation ends, and time only moves forward.
    With `autojump=False` sleepers wait until `advance()` passes their deadline.
    `sleep(math.inf)` waits until cancelled: time never jumps to infinity.

    One clock may serve several event loops in turn (`asyncio.run` called twice, one
    test loop after another): the auto-jump follows whichever loop is sleeping on it.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, start: float = 1_700_000_000.0, *, autojump: bool = True) -> None:
        self._wall_start = start
        self._elapsed = 0.0
        self._autojump = autojump
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._sequence = itertools.count()
        # The loop a pending auto-jump callback runs on; None when none is pending. A
        # loop closed before running its callback never clears this, hence "is loop".
        self._jump_loop: asyncio.AbstractEventLoop | None = None

    def now(self) -> float:
        """Virtual wall-clock time in epoch seconds."""
        return self._wall_start + self._elapsed

    def monotonic(self) -> float:
        """Virtual seconds elapsed since the clock was made."""
        return self._elapsed

    @property
    def pending_sleepers(self) -> int:
        """How many sleepers are waiting for virtual time to reach their deadline."""
        return sum(1 for _, _, fut in self._timers if _waiting(fut))

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of virtual time (`math.inf`: until cancelled; NaN: ValueError)."""
        if math.isnan(seconds):
            raise ValueError("cannot sleep for NaN seconds")
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        if math.isinf(seconds):
            await waiter  # no deadline: only cancellation ends this wait
            return
        heapq.heappush(self._timers, (self._elapsed + seconds, next(self._sequence), waiter))
        if self._autojump:
            self._schedule_jump(loop)
        await waiter

    def sleep_sync(self, seconds: float) -> None:
        """Advance virtual time by `seconds` at once (for `run_sync`)."""
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        """Move virtual time forward by `seconds`, waking every sleeper now due."""
        if not math.isfinite(seconds):
            raise ValueError(f"a TestClock advances by a finite number of seconds, not {seconds}")
        if seconds < 0:
            raise ValueError("a TestClock only moves forward")
        self._elapsed += seconds
        self._fire_due()

    def set_time(self, wall: float) -> None:
        """Move the clock forward so that `now()` returns `wall`."""
        self.advance(wall - self.now())

    # -- internals ------------------------------------------------------------------
    def _fire_due(self) -> None:
        while self._timers and self._timers[0][0] <= self._elapsed:
            _, _, waiter = heapq.heappop(self._timers)
            if _waiting(waiter):
                waiter.set_result(None)

    def _schedule_jump(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._jump_loop is not loop:
            self._jump_loop = loop
            loop.call_soon(self._jump, loop, _SETTLE_PASSES)

    def _jump(self, loop: asyncio.AbstractEventLoop, passes_left: int) -> None:
        if _loop_busy(loop) or passes_left > 0:
            loop.call_soon(
                self._jump, loop, passes_left - 1 if not _loop_busy(loop) else passes_left
            )
            return
        if self._jump_loop is loop:
            self._jump_loop = None
        while self._timers and not _waiting(self._timers[0][2]):
            heapq.heappop(self._timers)  # a cancelled sleeper, or one of a closed loop
        if not self._timers:
            return
        deadline = self._timers[0][0]
        self._elapsed = max(self._elapsed, deadline)
        self._fire_due()
        if self._timers:
            self._schedule_jump(loop)

    def __repr__(self) -> str:
        return f"TestClock(now={self.now():.3f}, elapsed={self._elapsed:.3f})"


def _waiting(waiter: asyncio.Future[None]) -> bool:
    """True while a sleeper can still be woken (not cancelled, its loop not closed)."""
    return not waiter.done() and not waiter.get_loop().is_closed()


def _loop_busy(loop: asyncio.AbstractEventLoop) -> bool:
    """True when other callbacks are ready to run (asyncio's ready queue is not empty)."""
    ready: object = getattr(loop, "_ready", None)
    return isinstance(ready, Sized) and len(ready) > 0
