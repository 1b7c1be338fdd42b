"""`TestClock`: virtual time for tests of retries, timeouts, sleeps, breakers and limiters."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import threading
from collections.abc import Mapping, Sized
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, cast, runtime_checkable

__all__ = ["TestClock"]


@runtime_checkable
class _HasFileno(Protocol):
    def fileno(self) -> int: ...


# How many idle event-loop passes the auto-jump waits before firing the next timer,
# so that work which is merely runnable (not waiting on time) gets to finish first.
_SETTLE_PASSES = 3

# While real work is in flight the auto-jump looks again after this many real seconds
# (the loop also wakes as soon as the work completes, so this only bounds the polling).
_IN_FLIGHT_POLL_S = 0.001


class TestClock:
    """A `Clock` whose time moves only when something sleeps or `advance()` is called.

    With `autojump=True` (the default) an `await clock.sleep(s)` returns at once in
    real time: once the event loop has nothing else to do, virtual time jumps to the
    earliest pending deadline and that sleeper wakes. Sleepers wake in deadline order,
    so a 5 s timeout fires before a 10 s operation ends, and time only moves forward.

    "Nothing else to do" includes real work in flight: while a thread of the loop's
    executor runs (`asyncio.to_thread`, `run_in_executor`), a task awaits any other
    executor's future, a socket operation or stream read waits for data, or a child
    process runs, time does not jump; it waits, in real time, for that work. So a
    50 ms database call in a thread is not timed out by a virtual `timeout=5`. An
    open connection nobody is reading from (a pool's idle socket) and a server waiting
    for requests (an in-process test server) do not hold time.
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
        if _loop_busy(loop):
            loop.call_soon(self._jump, loop, passes_left)
            return
        if _real_work_in_flight(loop):
            # Wait for it in real time; its completion wakes the loop, and the work it
            # unblocks then settles before time may move.
            loop.call_later(_IN_FLIGHT_POLL_S, self._jump, loop, _SETTLE_PASSES)
            return
        if passes_left > 0:
            loop.call_soon(self._jump, loop, passes_left - 1)
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


# -- real work in flight ---------------------------------------------------------------
# asyncio has no public "is anything outside the loop pending" query, so these read the
# loop's own bookkeeping (as `_loop_busy` reads its ready queue). Each check is written
# to answer False (time may jump, today's behaviour) if an attribute is not there.


def _real_work_in_flight(loop: asyncio.AbstractEventLoop) -> bool:
    """True while threads, sockets or child processes are doing work the loop awaits."""
    return (
        _executor_busy(loop)
        or _awaiting_other_thread(loop)
        or _io_in_flight(loop)
        or _child_process_running(loop)
    )


def _executor_busy(loop: asyncio.AbstractEventLoop) -> bool:
    """The loop's default executor (`asyncio.to_thread`) has queued or running work."""
    executor: object = getattr(loop, "_default_executor", None)
    if not isinstance(executor, ThreadPoolExecutor):
        return False
    queue: object = getattr(executor, "_work_queue", None)
    threads: object = getattr(executor, "_threads", None)
    idle: object = getattr(getattr(executor, "_idle_semaphore", None), "_value", None)
    queued = getattr(queue, "qsize", lambda: 0)()
    if queued:
        return True
    # Each thread releases the idle semaphore after finishing a work item, so threads
    # beyond the idle count are running one now.
    return isinstance(threads, Sized) and isinstance(idle, int) and len(threads) > idle


def _awaiting_other_thread(loop: asyncio.AbstractEventLoop) -> bool:
    """A task awaits a future chained to a `concurrent.futures` one (any executor)."""
    for task in asyncio.all_tasks(loop):
        waiter: object = getattr(task, "_fut_waiter", None)
        callbacks: object = getattr(waiter, "_callbacks", None)
        if not isinstance(callbacks, list):
            continue
        for entry in cast("list[tuple[object, object]]", callbacks):
            if getattr(entry[0], "__name__", "") == "_call_check_cancel":  # wrap_future
                return True
    return False


def _io_in_flight(loop: asyncio.AbstractEventLoop) -> bool:
    """A file descriptor the loop watches has an operation waiting on it.

    Writers are always in flight (an unsent buffer, a connect). Readers are, except a
    listening server, a server's connection waiting for a request, an idle stream
    nobody reads from, and the loop's own self-pipe.
    """
    selector: object = getattr(loop, "_selector", None)
    get_map = getattr(selector, "get_map", None)
    if get_map is None:
        return False
    self_pipe: object = getattr(loop, "_ssock", None)
    self_fd = self_pipe.fileno() if isinstance(self_pipe, _HasFileno) else -1
    registered: object = get_map()
    if not isinstance(registered, Mapping):
        return False
    for key in cast("Mapping[object, object]", registered).values():
        if getattr(key, "fd", None) == self_fd:
            continue
        data: object = getattr(key, "data", None)
        if not isinstance(data, tuple) or len(cast("tuple[object, ...]", data)) != 2:
            continue
        reader, writer = cast("tuple[object, object]", data)
        if _live(writer) or (_live(reader) and _reader_waiting(reader)):
            return True
    return False


def _live(handle: object) -> bool:
    return isinstance(handle, asyncio.Handle) and not handle.cancelled()


def _reader_waiting(handle: object) -> bool:
    callback: object = getattr(handle, "_callback", None)
    name = getattr(callback, "__name__", "")
    if name == "_accept_connection":  # a listening server waits for clients, not data
        return False
    if name != "_read_ready":  # sock_recv/sock_accept, a driver's add_reader, pidfd
        return True
    transport: object = getattr(callback, "__self__", None)
    if getattr(transport, "_server", None) is not None:
        # A connection a server accepted waits for its client's next request: that is
        # serving, not work in flight (an in-process test server would hold time forever).
        return False
    protocol: object = getattr(transport, "_protocol", None)
    if not isinstance(protocol, asyncio.StreamReaderProtocol):
        return False  # an idle transport of some other protocol: not known to be waiting
    stream: object = getattr(protocol, "_stream_reader", None)
    waiter: object = getattr(stream, "_waiter", None)
    return isinstance(waiter, asyncio.Future) and not waiter.done()


def _child_process_running(loop: asyncio.AbstractEventLoop) -> bool:
    """True while asyncio's threaded child watcher waits for a process this loop started.

    The watcher's threads are process-wide; each one's first argument is the loop to
    notify, so a process left running by another loop (another test) does not count.
    """
    for thread in threading.enumerate():
        if "waitpid-" not in thread.name or not thread.is_alive():
            continue
        arguments: object = getattr(thread, "_args", ())
        if isinstance(arguments, tuple) and arguments[:1] == (loop,):
            return True
    return False
