"""TestClock: virtual time that jumps when everything waits on it, or moves by advance()."""

from __future__ import annotations

import asyncio
import time

import pytest

from resultflow.clock import Clock
from resultflow.testing import TestClock

START = 1_700_000_000.0


async def settle(passes: int = 20) -> None:
    """Let every runnable task take a few turns (no real time passes)."""
    for _ in range(passes):
        await asyncio.sleep(0)


def test_starts_at_its_wall_time_with_zero_elapsed() -> None:
    clock = TestClock()
    assert clock.now() == START
    assert clock.monotonic() == 0.0
    assert TestClock(start=100.0).now() == 100.0
    assert isinstance(clock, Clock)  # satisfies the runtime-checkable protocol
    assert "elapsed=0.000" in repr(clock)


def test_advance_moves_both_times_forward() -> None:
    clock = TestClock()
    clock.advance(2.5)
    clock.advance(0)
    assert clock.monotonic() == 2.5
    assert clock.now() == START + 2.5


def test_negative_advance_raises() -> None:
    clock = TestClock()
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-0.001)
    assert clock.monotonic() == 0.0


def test_set_time_moves_forward_only() -> None:
    clock = TestClock()
    clock.set_time(START + 60)
    assert clock.now() == START + 60
    assert clock.monotonic() == 60.0
    with pytest.raises(ValueError, match="only moves forward"):
        clock.set_time(START)
    assert clock.now() == START + 60


def test_sleep_sync_advances_at_once() -> None:
    clock = TestClock()
    started = time.perf_counter()
    clock.sleep_sync(3600)
    clock.sleep_sync(-5)  # a negative sleep is a no-op, not an error
    assert time.perf_counter() - started < 0.2
    assert clock.monotonic() == 3600.0


async def test_autojump_sleep_returns_at_once_in_real_time() -> None:
    clock = TestClock()
    started = time.perf_counter()
    await clock.sleep(86_400)
    assert time.perf_counter() - started < 0.2
    assert clock.monotonic() == 86_400.0


async def test_zero_and_negative_sleeps_do_not_move_time() -> None:
    clock = TestClock()
    await clock.sleep(0)
    await clock.sleep(-3)
    assert clock.monotonic() == 0.0
    assert clock.pending_sleepers == 0


async def test_concurrent_sleepers_wake_in_deadline_order_and_each_jump() -> None:
    clock = TestClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(label: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((label, clock.monotonic()))

    await asyncio.gather(sleeper("ten", 10), sleeper("two", 2), sleeper("five", 5))

    # Concurrent sleeps overlap: total virtual time is the longest, not the sum.
    assert woke == [("two", 2.0), ("five", 5.0), ("ten", 10.0)]
    assert clock.monotonic() == 10.0


async def test_sleepers_with_the_same_deadline_wake_in_arrival_order() -> None:
    clock = TestClock()
    woke: list[int] = []

    async def sleeper(index: int) -> None:
        await clock.sleep(1)
        woke.append(index)

    await asyncio.gather(*(sleeper(i) for i in range(5)))
    assert woke == [0, 1, 2, 3, 4]


async def test_time_never_moves_backward_between_sequential_sleeps() -> None:
    clock = TestClock()
    readings: list[float] = []
    for seconds in (3, 1, 2):
        await clock.sleep(seconds)
        readings.append(clock.monotonic())
    assert readings == [3.0, 4.0, 6.0]


async def test_runnable_work_finishes_before_time_jumps() -> None:
    clock = TestClock()
    steps: list[str] = []

    async def busy() -> None:
        for i in range(5):
            steps.append(f"busy{i}")
            await asyncio.sleep(0)

    async def sleepy() -> None:
        await clock.sleep(1)
        steps.append(f"sleepy@{clock.monotonic()}")

    await asyncio.gather(sleepy(), busy())
    assert steps[-1] == "sleepy@1.0"
    assert steps[:5] == [f"busy{i}" for i in range(5)]


async def test_without_autojump_sleepers_wait_for_advance() -> None:
    clock = TestClock(autojump=False)
    woke: list[str] = []

    async def sleeper(label: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(label)

    tasks = [
        asyncio.ensure_future(sleeper("a", 5)),
        asyncio.ensure_future(sleeper("b", 10)),
    ]
    await settle()
    assert woke == []
    assert clock.pending_sleepers == 2
    assert clock.monotonic() == 0.0  # nothing moves time by itself

    clock.advance(4.999)
    await settle()
    assert woke == []

    clock.advance(0.001)
    await settle()
    assert woke == ["a"]
    assert clock.pending_sleepers == 1

    clock.advance(100)  # one big step wakes everything due
    await asyncio.gather(*tasks)
    assert woke == ["a", "b"]
    assert clock.pending_sleepers == 0


async def test_a_cancelled_sleeper_does_not_hold_time_back() -> None:
    clock = TestClock()
    doomed = asyncio.ensure_future(clock.sleep(5))
    await settle(2)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    await clock.sleep(20)
    assert clock.monotonic() == 20.0
    assert clock.pending_sleepers == 0


async def test_wait_for_on_a_clock_sleep_times_out_on_real_time_only() -> None:
    """The clock is virtual: asyncio's own timeouts are not driven by it."""
    clock = TestClock(autojump=False)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(clock.sleep(1), timeout=0.01)
    assert clock.monotonic() == 0.0


def test_one_clock_serves_event_loops_in_turn() -> None:
    """A loop closed with an auto-jump still pending must not stall the next loop."""
    from resultflow import Ok, Step, run

    clock = TestClock()

    async def quick(step: Step[str]) -> int:
        # The step's timeout timer schedules an auto-jump; the step ends before it runs.
        return await step(lambda: Ok(1), name="quick", timeout=30)

    async def sleepy(step: Step[str]) -> float:
        await step.sleep(5)
        return clock.monotonic()

    async def second_loop() -> object:
        return await asyncio.wait_for(run(sleepy, clock=clock), timeout=0.2)

    assert asyncio.run(run(quick, clock=clock)) == Ok(1)
    assert asyncio.run(second_loop()) == Ok(5.0)
    assert clock.pending_sleepers == 0


def test_a_sleeper_of_a_closed_loop_is_dropped() -> None:
    """A sleeper stranded by a loop closed under it neither wakes nor drives time."""
    clock = TestClock()
    loop = asyncio.new_event_loop()
    orphan = loop.create_task(clock.sleep(1))
    loop.run_until_complete(asyncio.sleep(0))  # the orphan now waits on the clock
    loop.close()  # closed with the task pending, as a crashed test leaves it
    orphan._log_destroy_pending = False  # type: ignore[attr-defined]  # (expected here)
    assert clock.pending_sleepers == 0

    async def sleep_five() -> float:
        await clock.sleep(5)
        return clock.monotonic()

    # Waking the orphan would call into its closed loop and stall this one.
    assert asyncio.run(asyncio.wait_for(sleep_five(), timeout=0.2)) == 5.0
    clock.advance(1)  # nothing due belongs to a closed loop any more: no error
    assert not orphan.done()


async def test_an_infinite_sleep_waits_until_cancelled_and_time_stays_put() -> None:
    clock = TestClock()
    forever = asyncio.ensure_future(clock.sleep(float("inf")))
    await clock.sleep(3)  # autojump passes the finite sleeper only
    # Leave the loop idle for a moment: the clock must not jump to infinity.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(asyncio.shield(forever), timeout=0.05)
    assert not forever.done()
    assert clock.monotonic() == 3.0
    forever.cancel()
    with pytest.raises(asyncio.CancelledError):
        await forever


async def test_non_finite_durations_are_rejected() -> None:
    clock = TestClock()
    with pytest.raises(ValueError, match="NaN"):
        await asyncio.wait_for(clock.sleep(float("nan")), timeout=0.1)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            clock.advance(bad)
    assert clock.monotonic() == 0.0
