"""`ConcurrencyLimiter`: at most `max_concurrent` calls at a time, the rest queued or refused.

```text
ConcurrencyLimiter(name, max_concurrent=5, max_queue=100, strategy="queue" | "reject",
                   clock=None)
```

A call beyond `max_concurrent` waits in a FIFO queue of at most `max_queue` callers
(`strategy="queue"`) or is refused at once (`strategy="reject"`); a full queue refuses
too. A refusal is `RateLimited(name, retry_after)`, where `retry_after` estimates when a
slot frees up from the durations of recent calls (None until one has finished).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, TypeVar

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import RateLimited, RateLimitedError, UnexpectedError
from resultflow.reliability._guard import run_admitted
from resultflow.result import Err, Result

__all__ = ["ConcurrencyLimiter", "ConcurrencyStats", "QueueStrategy"]

T = TypeVar("T")
E = TypeVar("E")
R = TypeVar("R")

QueueStrategy = Literal["queue", "reject"]
"""What a `ConcurrencyLimiter` does at capacity: queue the caller, or refuse it."""

_QUEUE_STRATEGIES: tuple[QueueStrategy, ...] = ("queue", "reject")

# Weight of the newest call in the running mean of call durations.
_DURATION_WEIGHT = 0.2


@dataclass(frozen=True, slots=True)
class ConcurrencyStats:
    """A snapshot of a `ConcurrencyLimiter`: calls running and callers queued."""

    active: int
    queued: int


class ConcurrencyLimiter:
    """Bounds how many calls run at once; the rest wait in a FIFO queue or are refused.

    It is a `resultflow.reliability.Guard`. `acquire()` / `release()` (or `async with
    limiter:`) hold a slot by hand; `call`, `call_result` and `map` do it for you and
    always give the slot back, whether the call returns, raises or is cancelled.

    Args:
        name: The limiter's name, the `limiter` of its `RateLimited` errors.
        max_concurrent: How many calls may hold a slot at once (at least 1).
        max_queue: How many callers may wait for a slot (0: none); a caller finding
            the queue full is refused.
        strategy: `"queue"` to wait for a slot, `"reject"` to refuse at once when
            every slot is taken.
        clock: The time source used to time calls for the `retry_after` estimate.

    Raises:
        ValueError: `name` is empty, a count is out of range, or `strategy` is unknown.
        TypeError: `max_concurrent` or `max_queue` is not an int.
    """

    def __init__(
        self,
        name: str,
        max_concurrent: int = 5,
        max_queue: int = 100,
        strategy: QueueStrategy = "queue",
        clock: Clock | None = None,
    ) -> None:
        if not name:
            raise ValueError("a limiter needs a non-empty name")
        _require_int("max_concurrent", max_concurrent)
        _require_int("max_queue", max_queue)
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent!r}")
        if max_queue < 0:
            raise ValueError(f"max_queue must not be negative, got {max_queue!r}")
        if strategy not in _QUEUE_STRATEGIES:
            raise ValueError(f"strategy must be 'queue' or 'reject', got {strategy!r}")
        self._name = name
        self._max_concurrent = max_concurrent
        self._max_queue = max_queue
        self._strategy: QueueStrategy = strategy
        self._clock: Clock = SYSTEM_CLOCK if clock is None else clock
        self._active = 0
        # Queued callers in arrival order; a released slot passes straight to the first
        # live one, so a newcomer can never take it from under a waiter.
        self._queue: deque[asyncio.Future[None]] = deque()
        self._mean_duration: float | None = None

    # -- configuration ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The limiter's name, the `limiter` of its errors."""
        return self._name

    @property
    def max_concurrent(self) -> int:
        """How many calls may run at once."""
        return self._max_concurrent

    @property
    def max_queue(self) -> int:
        """How many callers may wait for a slot."""
        return self._max_queue

    @property
    def strategy(self) -> QueueStrategy:
        """`"queue"` or `"reject"`."""
        return self._strategy

    # -- holding a slot by hand ---------------------------------------------------------
    async def acquire(self) -> None:
        """Take a slot, queueing for it if allowed; raises `RateLimitedError` when refused."""
        if not self._take_free_slot():
            await self._queue_for_slot()

    def release(self) -> None:
        """Give back a slot taken with `acquire()`."""
        if self._active <= 0:
            raise RuntimeError(f"release() on limiter {self._name!r} without a matching acquire()")
        while self._queue:
            waiter = self._queue.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on; `active` stays the same
                return
        self._active -= 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    # -- running calls ------------------------------------------------------------------
    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn` in a slot; raises `RateLimitedError` when refused."""
        await self.acquire()
        started = self._clock.monotonic()
        try:
            return await fn()
        finally:
            self._finish(started)

    async def call_result(
        self, fn: Callable[[], Awaitable[Result[T, E]]]
    ) -> Result[T, E | RateLimited | UnexpectedError]:
        """Run the Result-returning `fn` in a slot, or return `Err(RateLimited)`.

        `fn`'s own Result passes through unchanged. Like every guard, it does not raise
        for `fn`: an exception `fn` raises comes back as `Err(UnexpectedError)` (with
        the exception as `cause`), and the slot is given back either way.
        """
        if not self._take_free_slot():
            try:
                await self._queue_for_slot()
            except RateLimitedError as refused:
                return Err(refused.error)
        started = self._clock.monotonic()
        try:
            return await run_admitted(fn)
        finally:
            self._finish(started)

    async def map(self, fns: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run a batch under the limit and return the results in the order of `fns`.

        The batch itself occupies at most `max_concurrent` slots and queue places at a
        time, so a batch larger than the queue does not overflow it. The first
        exception (a refusal included) cancels the rest and is raised.
        """
        return await self._run_batch(list(fns), self.call)

    async def map_result(
        self, fns: Iterable[Callable[[], Awaitable[Result[T, E]]]]
    ) -> list[Result[T, E | RateLimited | UnexpectedError]]:
        """Like `map` for Result-returning calls, through `call_result`.

        A refusal or an exception becomes that item's Err and the rest of the batch still
        runs.
        """
        return await self._run_batch(list(fns), self.call_result)

    # -- inspecting -----------------------------------------------------------------------
    def stats(self) -> ConcurrencyStats:
        """How many calls hold a slot and how many callers are queued."""
        return ConcurrencyStats(active=self._active, queued=self._queued())

    def __repr__(self) -> str:
        return (
            f"ConcurrencyLimiter({self._name!r}, max_concurrent={self._max_concurrent!r}, "
            f"max_queue={self._max_queue!r}, strategy={self._strategy!r})"
        )

    # -- internals ----------------------------------------------------------------------
    def _take_free_slot(self) -> bool:
        """Take a slot if one is free and nobody is queued for it; True if taken."""
        if self._active < self._max_concurrent and (not self._queue or self._queued() == 0):
            self._active += 1
            return True
        return False

    async def _queue_for_slot(self) -> None:
        """Wait in the queue for a slot (or be refused when that is not allowed)."""
        if self._strategy == "reject" or self._queued() >= self._max_queue:
            raise RateLimitedError(RateLimited(self._name, self._retry_after_hint()))
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if not turn.cancelled():  # the slot was handed over just before the cancellation
                self.release()
            elif turn in self._queue:  # else a release() already dropped it while passing by
                self._queue.remove(turn)
            raise

    def _queued(self) -> int:
        # A cancelled waiter's future is done before its task gets to remove it.
        return sum(1 for waiter in self._queue if not waiter.done())

    def _finish(self, started: float) -> None:
        """Give back the slot of a call that started at `started` and note its duration."""
        seconds = self._clock.monotonic() - started
        mean = self._mean_duration
        self._mean_duration = (
            seconds if mean is None else mean + _DURATION_WEIGHT * (seconds - mean)
        )
        self.release()

    def _retry_after_hint(self) -> float | None:
        if self._mean_duration is None:
            return None
        rounds = math.ceil((self._queued() + 1) / self._max_concurrent)
        return self._mean_duration * rounds

    async def _run_batch(
        self,
        fns: list[Callable[[], Awaitable[T]]],
        run_one: Callable[[Callable[[], Awaitable[T]]], Awaitable[R]],
    ) -> list[R]:
        results: dict[int, R] = {}
        pending: Iterator[tuple[int, Callable[[], Awaitable[T]]]] = iter(enumerate(fns))

        async def worker() -> None:
            # Workers share one iterator, so items start in order as slots free up.
            for index, fn in pending:
                results[index] = await run_one(fn)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(len(fns), self._max_concurrent)):
                    group.create_task(worker())
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return [results[index] for index in range(len(fns))]


def _require_int(option: str, value: object) -> None:
    """Reject a count that is not an int (a float such as 2.5 would silently round up)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{option} must be an int, got {value!r}")
