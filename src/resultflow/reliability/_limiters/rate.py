"""`RateLimiter`: a token bucket that makes callers wait their turn, or refuses them.

```text
RateLimiter(name, rate=10.0, per=1.0, burst=None, strategy="wait" | "reject",
            store=None, clock=None)
```

The bucket holds up to `burst` tokens (default `2 * rate`) and refills at `rate` tokens
per `per` seconds; each admitted call takes one token. With `strategy="wait"` a caller
waits (through the clock) until a token is free, and waiting callers are served
strictly in arrival order. With `strategy="reject"` a caller that finds the bucket
empty is refused at once with `RateLimited(name, retry_after)`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.errors import LimiterStoreError, RateLimited, RateLimitedError, UnexpectedError
from resultflow.reliability._guard import run_admitted
from resultflow.reliability._limiters.store import BucketSpec, LimiterStore, MemoryLimiterStore
from resultflow.result import Err, Result

__all__ = ["RateLimitedError", "RateLimiter", "RateLimiterStats", "RateStrategy"]

T = TypeVar("T")
E = TypeVar("E")

RateStrategy = Literal["wait", "reject"]
"""What a `RateLimiter` does when the bucket is empty: wait for a token, or refuse."""

_RATE_STRATEGIES: tuple[RateStrategy, ...] = ("wait", "reject")


@dataclass(frozen=True, slots=True)
class RateLimiterStats:
    """A snapshot of a `RateLimiter`: tokens in the bucket and callers waiting for one."""

    available_tokens: float
    waiting: int


class RateLimiter:
    """A token-bucket rate limiter: at most `rate` calls per `per` seconds on average.

    It is a `resultflow.reliability.Guard`: `call_result(fn)` runs `fn` once admitted
    and returns `Err(RateLimited(name, retry_after))` when it refuses.

    Args:
        name: The limiter's name: the key of its bucket in the store and the
            `limiter` of its `RateLimited` errors.
        rate: Tokens added to the bucket every `per` seconds; each call takes one.
        per: The period of `rate`, in seconds.
        burst: The bucket's capacity (calls that may pass at once after a quiet
            spell); default `2 * rate`, at least 1.
        strategy: `"wait"` to wait (through the clock, in arrival order) for a token,
            `"reject"` to refuse at once when the bucket is empty.
        store: Where the bucket lives; default a private `MemoryLimiterStore`, or a
            `RedisLimiterStore` to share one bucket between processes.
        clock: The time source; default the system clock (a `TestClock` in tests).

    Raises:
        ValueError: `name` is empty, `rate`/`per` is not positive, `burst` is below
            1, or `strategy` is unknown.
    """

    def __init__(
        self,
        name: str,
        rate: float = 10.0,
        per: float = 1.0,
        burst: float | None = None,
        strategy: RateStrategy = "wait",
        store: LimiterStore | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not name:
            raise ValueError("a limiter needs a non-empty name")
        if not rate > 0 or not per > 0:
            raise ValueError(f"rate and per must be positive, got rate={rate!r}, per={per!r}")
        if strategy not in _RATE_STRATEGIES:
            raise ValueError(f"strategy must be 'wait' or 'reject', got {strategy!r}")
        capacity = max(1.0, 2.0 * rate) if burst is None else float(burst)
        if not capacity >= 1:
            raise ValueError(f"burst must be at least 1 token, got {burst!r}")
        self._name = name
        self._rate = float(rate)
        self._per = float(per)
        self._strategy: RateStrategy = strategy
        self._spec = BucketSpec(capacity=capacity, refill_rate=self._rate / self._per)
        self._store: LimiterStore = MemoryLimiterStore() if store is None else store
        # The plain memory store answers synchronously, so an uncontended acquire() takes
        # its token without a queue entry or an await (see `_take_now`).
        self._memory: MemoryLimiterStore | None = (
            self._store if type(self._store) is MemoryLimiterStore else None
        )
        self._clock: Clock = SYSTEM_CLOCK if clock is None else clock
        # Callers of a waiting acquire(), in arrival order. Only the head talks to the
        # store; everyone behind it waits for its future, so nobody can barge ahead.
        self._queue: deque[asyncio.Future[None]] = deque()
        # Set by reset() to cut short the head's sleep.
        self._wakeup: asyncio.Future[None] | None = None
        self._resets = 0

    # -- configuration ------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The limiter's name: the key of its bucket and the `limiter` of its errors."""
        return self._name

    @property
    def rate(self) -> float:
        """Tokens added per `per` seconds."""
        return self._rate

    @property
    def per(self) -> float:
        """The period of `rate`, in seconds."""
        return self._per

    @property
    def burst(self) -> float:
        """The bucket's capacity: how many calls may pass at once after a quiet spell."""
        return self._spec.capacity

    @property
    def strategy(self) -> RateStrategy:
        """`"wait"` or `"reject"`."""
        return self._strategy

    @property
    def store(self) -> LimiterStore:
        """Where the bucket lives."""
        return self._store

    # -- admitting calls ---------------------------------------------------------------
    async def acquire(self) -> None:
        """Take one token, waiting for it (`"wait"`) or raising `RateLimitedError` (`"reject"`)."""
        retry_after = self._take_now()
        if retry_after is None or retry_after > 0:
            await self._acquire_slowly(retry_after)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn` once a token is taken; raises `RateLimitedError` when refused."""
        await self.acquire()
        return await fn()

    async def call_result(
        self, fn: Callable[[], Awaitable[Result[T, E]]]
    ) -> Result[T, E | RateLimited | UnexpectedError]:
        """Run the Result-returning `fn` once admitted, or return `Err(RateLimited)`.

        `fn`'s own Result passes through unchanged. Like every guard, it does not raise:
        an exception raised by `fn`, or a `LimiterStoreError` that kept `fn` from
        running, comes back as `Err(UnexpectedError)` with the exception as `cause`.
        """
        retry_after = self._take_now()
        if retry_after is None or retry_after > 0:
            try:
                await self._acquire_slowly(retry_after)
            except RateLimitedError as refused:
                return Err(refused.error)
            except LimiterStoreError as failure:
                return Err(UnexpectedError.from_exception(failure), failure)
        return await run_admitted(fn)

    # -- inspecting and resetting -------------------------------------------------------
    def stats(self) -> RateLimiterStats:
        """Tokens available now and the number of callers waiting.

        Exact for the memory store; for a remote store the tokens are this process's
        latest estimate (use `fetch_stats()` to ask the store).
        """
        tokens = self._store.peek(self._name, self._spec, self._clock.monotonic())
        return RateLimiterStats(available_tokens=tokens, waiting=len(self._queue))

    async def fetch_stats(self) -> RateLimiterStats:
        """Like `stats()`, but reads the bucket from the store (one round trip if remote)."""
        tokens = await self._store.tokens(self._name, self._spec, self._clock.monotonic())
        return RateLimiterStats(available_tokens=tokens, waiting=len(self._queue))

    def reset(self) -> None:
        """Refill the bucket and wake the waiters.

        The waiters are then served in arrival order from the full bucket; those it
        cannot serve wait again for new tokens, on a schedule computed after the reset.
        """
        self._store.refill(self._name, self._spec, self._clock.monotonic())
        self._resets += 1
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def __repr__(self) -> str:
        return (
            f"RateLimiter({self._name!r}, rate={self._rate!r}, per={self._per!r}, "
            f"burst={self._spec.capacity!r}, strategy={self._strategy!r})"
        )

    # -- internals ----------------------------------------------------------------------
    def _take_now(self) -> float | None:
        """Try to take a token without awaiting: the store's answer, or None if unfit.

        Only with the memory store and nobody waiting: then the bucket is ours to ask
        (no await can let anyone in between), exactly as the queued path would ask it.
        """
        memory = self._memory
        if memory is None or self._queue:
            return None
        return memory.take_nowait(self._name, self._spec, self._clock.monotonic())

    async def _acquire_slowly(self, retry_after: float | None) -> None:
        """`acquire` once the fast path could not take a token.

        `retry_after` is the memory store's refusal from `_take_now` (None: not asked).
        A waiting caller queues up and asks the store again as the head of the queue.
        """
        if self._strategy == "reject":
            if retry_after is None:
                retry_after = await self._take()
            if retry_after > 0:
                raise RateLimitedError(RateLimited(self._name, retry_after))
            return
        await self._wait_for_token()

    async def _take(self) -> float:
        return await self._store.take(self._name, self._spec, self._clock.monotonic())

    async def _wait_for_token(self) -> None:
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        if len(self._queue) == 1:
            turn.set_result(None)
        try:
            await turn
            while True:
                resets_before = self._resets
                retry_after = await self._take()
                if retry_after <= 0:
                    return
                if self._resets == resets_before:  # else: a reset landed mid-take, retry now
                    await self._sleep_unless_reset(retry_after)
        finally:
            self._leave_queue(turn)

    def _leave_queue(self, turn: asyncio.Future[None]) -> None:
        was_head = bool(self._queue) and self._queue[0] is turn
        try:
            self._queue.remove(turn)
        except ValueError:  # pragma: no cover - every caller appended itself first
            pass
        if was_head:
            # Cancelled waiters remove themselves later; the first live one becomes the
            # head (unless it already is: then its own exit passes the turn on).
            for waiter in self._queue:
                if waiter.cancelled():
                    continue
                if not waiter.done():
                    waiter.set_result(None)
                break

    async def _sleep_unless_reset(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        wakeup: asyncio.Future[None] = loop.create_future()
        self._wakeup = wakeup
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait((sleeper, wakeup), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            if self._wakeup is wakeup:
                self._wakeup = None
