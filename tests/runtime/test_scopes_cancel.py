"""Concurrent scopes and cancellation: fail fast, cancel the rest, leave nothing running."""

from __future__ import annotations

import asyncio

import pytest

from resultflow import Err, Ok, Step, UnexpectedError, run
from resultflow.events import StepAborted, WorkflowEvent


class Probe:
    """An op that waits on an event and records whether it was cancelled."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self) -> Ok[str]:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return Ok("released")


def other_tasks() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_all_returns_values_in_order() -> None:
    async def slow(v: int) -> Ok[int]:
        await asyncio.sleep(0)
        return Ok(v)

    async def body(step: Step[str]) -> tuple[int, str, int]:
        return await step.all(lambda: slow(1), Ok("two"), slow(3))

    assert await run(body) == Ok((1, "two", 3))


async def test_all_fails_fast_and_cancels_the_rest() -> None:
    probe = Probe()
    before = other_tasks()
    events: list[WorkflowEvent] = []

    async def fail_after_start() -> Err[str]:
        await probe.started.wait()
        return Err("broken")

    async def body(step: Step[str]) -> object:
        return await step.all(probe, fail_after_start)

    result = await run(body, on_event=lambda e, c: events.append(e))
    assert result == Err("broken")
    assert probe.cancelled.is_set()
    assert other_tasks() == before
    aborted = [e for e in events if isinstance(e, StepAborted)]
    assert len(aborted) == 1
    scope_end = [e for e in events if e.type == "scope_end"]
    assert scope_end and scope_end[0].ok is False  # type: ignore[union-attr]


async def test_parallel_returns_a_dict_by_name() -> None:
    async def body(step: Step[str]) -> dict[str, object]:
        return await step.parallel(user=lambda: Ok("u"), posts=Ok([1, 2]))

    assert await run(body) == Ok({"user": "u", "posts": [1, 2]})


async def test_parallel_fails_fast() -> None:
    probe = Probe()

    async def body(step: Step[str]) -> dict[str, object]:
        return await step.parallel(slow=probe, bad=Err("nope"))

    assert await run(body) == Err("nope")
    assert probe.cancelled.is_set()


async def test_race_first_finisher_decides_and_rest_are_cancelled() -> None:
    probe = Probe()

    async def quick() -> Ok[str]:
        await asyncio.sleep(0)
        return Ok("quick")

    async def body(step: Step[str]) -> str:
        return await step.race(probe, quick)

    assert await run(body) == Ok("quick")
    assert probe.cancelled.is_set()

    async def failing(step: Step[str]) -> str:
        return await step.race(Probe(), lambda: Err("fast failure"))

    assert await run(failing) == Err("fast failure")


async def test_all_settled_collects_every_error_in_order() -> None:
    ran: list[int] = []

    async def op(n: int, ok: bool) -> Ok[int] | Err[str]:
        await asyncio.sleep(0)
        ran.append(n)
        return Ok(n) if ok else Err(f"e{n}")

    async def body(step: Step[list[str]]) -> list[int]:
        return await step.all_settled(
            lambda: op(1, False), lambda: op(2, True), lambda: op(3, False)
        )

    assert await run(body) == Err(["e1", "e3"])
    assert sorted(ran) == [1, 2, 3]

    async def fine(step: Step[list[str]]) -> list[int]:
        return await step.all_settled(lambda: op(4, True), lambda: op(5, True))

    assert await run(fine) == Ok([4, 5])


async def test_map_keeps_order_and_limits_concurrency() -> None:
    active = 0
    peak = 0

    async def work(n: int) -> Ok[int]:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        active -= 1
        return Ok(n * 10)

    async def body(step: Step[str]) -> list[int]:
        return await step.map(range(8), lambda n: lambda: work(n), concurrency=3, name="x10")

    events: list[WorkflowEvent] = []
    assert await run(body, on_event=lambda e, c: events.append(e)) == Ok([n * 10 for n in range(8)])
    assert peak == 3
    names = [e.name for e in events if e.type == "step_start"]  # type: ignore[union-attr]
    assert names == [f"x10[{i}]" for i in range(8)]
    assert [e.kind for e in events if e.type == "scope_start"] == ["map"]  # type: ignore[union-attr]


async def test_map_fails_fast() -> None:
    async def work(n: int) -> Ok[int] | Err[str]:
        await asyncio.sleep(0)
        return Err(f"bad {n}") if n == 2 else Ok(n)

    async def body(step: Step[str]) -> list[int]:
        return await step.map([1, 2, 3], lambda n: work(n))

    assert await run(body) == Err("bad 2")

    async def bad(step: Step[str]) -> list[int]:
        return await step.map([1], lambda n: Ok(n), concurrency=0)

    result = await run(bad)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "ValueError"
    assert "concurrency" in result.error.message


async def test_cancelling_a_run_propagates_and_emits_cancelled() -> None:
    probe = Probe()
    events: list[str] = []
    before = other_tasks()

    async def body(step: Step[str]) -> object:
        return await step.all(probe, Probe())

    task = asyncio.ensure_future(run(body, on_event=lambda e, c: events.append(e.type)))
    await probe.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert probe.cancelled.is_set()
    assert events[-1] == "workflow_cancelled"
    assert "step_aborted" in events
    assert other_tasks() == before


async def test_sleep_uses_the_run_clock() -> None:
    from resultflow.testing._clock import TestClock

    clock = TestClock()

    async def body(step: Step[str]) -> float:
        await step.sleep(3600)
        return clock.monotonic()

    assert await run(body, clock=clock) == Ok(3600.0)


class SlowCleanup:
    """An op whose cleanup after cancellation takes several loop turns (and resists them)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cleaned_up = False

    async def __call__(self) -> Ok[str]:
        self.started.set()
        try:
            await asyncio.Event().wait()
        finally:
            for _ in range(5):
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:
                    pass
            self.cleaned_up = True
        return Ok("never")


async def test_a_second_cancel_during_cleanup_still_leaves_no_task_running() -> None:
    first, second = SlowCleanup(), SlowCleanup()
    before = other_tasks()
    events: list[str] = []

    async def body(step: Step[str]) -> object:
        return await step.all(first, second, name="pair")

    task = asyncio.ensure_future(run(body, on_event=lambda e, c: events.append(e.type)))
    await first.started.wait()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # arrives while the scope is still waiting for its children
    with pytest.raises(asyncio.CancelledError):
        await task
    assert first.cleaned_up and second.cleaned_up
    assert other_tasks() == before
    assert "scope_end" in events and events[-1] == "workflow_cancelled"


async def test_a_raising_map_item_op_is_named_after_its_item() -> None:
    def explode() -> Ok[int]:
        raise ValueError("bad item")

    async def body(step: Step[str]) -> list[int]:
        return await step.map([1, 2], lambda n: explode if n == 2 else Ok(n), name="parse")

    result = await run(body)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.step == "parse[1]"
    assert result.error.message == "bad item"
