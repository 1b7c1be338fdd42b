"""Devtools, console_logger and logging_sink driven by real runs of the runner."""

from __future__ import annotations

import io
import logging

import pytest

from resultflow import Err, MemoryCache, Ok, Result, Step, TaggedError, run
from resultflow._runtime.sync_runner import SyncStep, run_sync
from resultflow.devtools import Devtools, TimelineEntry, console_logger, logging_sink
from resultflow.events import WorkflowEvent
from resultflow.reliability._retry import RetryPolicy
from resultflow.testing._clock import TestClock


class OrderMissing(TaggedError):
    """No such order."""

    order_id: str


class Shop:
    """Operations of a toy shop whose timings run on a TestClock."""

    def __init__(self, clock: TestClock, *, posts_fail: bool) -> None:
        self.clock = clock
        self.posts_fail = posts_fail
        self.charge_calls = 0

    async def charge(self) -> Result[int, OrderMissing]:
        self.charge_calls += 1
        await self.clock.sleep(0.1)
        return Err(OrderMissing("busy")) if self.charge_calls < 3 else Ok(42)

    async def user(self) -> Result[str, OrderMissing]:
        await self.clock.sleep(0.2)
        return Ok("ann")

    async def posts(self) -> Result[list[str], OrderMissing]:
        await self.clock.sleep(0.3)
        return Err(OrderMissing("7")) if self.posts_fail else Ok(["hello"])


async def checkout(step: Step[OrderMissing], shop: Shop) -> str:
    retry = RetryPolicy(attempts=3, backoff="fixed", initial=0.05, jitter=False)
    await step(lambda: shop.charge(), name="charge", key="charge:7", retry=retry)
    await step(lambda: Ok(7), key="price:7", name="price")
    await step(lambda: Ok(7), key="price:7", name="price")  # same key: a cache hit
    await step.when(False, lambda: Ok(None), name="notify", reason="no email address")
    await step.all(lambda: shop.user(), lambda: shop.posts(), name="fetch")
    return "receipt"


async def _run_checkout(
    devtools: Devtools, *, posts_fail: bool, extra_sinks: tuple[object, ...] = ()
) -> object:
    clock = TestClock()
    shop = Shop(clock, posts_fail=posts_fail)

    def sink(event: WorkflowEvent, ctx: object) -> None:
        devtools.handle_event(event, ctx)
        for other in extra_sinks:
            other(event, ctx)  # type: ignore[operator]

    return await run(checkout, shop, on_event=sink, clock=clock, cache=MemoryCache())


async def test_a_real_failing_run_renders_as_a_tree() -> None:
    devtools = Devtools()
    result = await _run_checkout(devtools, posts_fail=True)

    assert result == Err(OrderMissing("7"))
    assert devtools.render() == (
        "workflow checkout [err] 700ms: OrderMissing(order_id='7')\n"
        "|-- [ok] charge (key=charge:7) 400ms (2 retries)\n"
        "|-- [ok] price (key=price:7) 0ms\n"
        "|-- [cached] price (key=price:7)\n"
        "|-- [skipped] notify: no email address\n"
        "`-- [err] all fetch 300ms\n"
        "    |-- [ok] fetch[0] 200ms\n"
        "    `-- [err] fetch[1] 300ms: OrderMissing(order_id='7')"
    )
    run_record = devtools.last_run()
    assert run_record is not None
    (scope,) = run_record.scopes
    assert [s.parent_id for s in run_record.steps] == [
        None,
        None,
        None,
        None,
        scope.scope_id,
        scope.scope_id,
    ]


async def test_a_real_run_timeline_and_mermaid() -> None:
    devtools = Devtools()
    await _run_checkout(devtools, posts_fail=True)

    entries = devtools.timeline()
    assert [(e.name, e.status) for e in entries] == [
        ("charge", "success"),
        ("price", "success"),
        ("price", "cached"),
        ("notify", "skipped"),
        ("fetch[0]", "success"),
        ("fetch[1]", "error"),
    ]
    assert entries[0] == TimelineEntry("charge", 0.0, pytest.approx(0.4), "success")  # type: ignore[arg-type]
    assert entries[-1].start_s == pytest.approx(0.4)
    assert entries[-1].end_s == pytest.approx(0.7)
    rows = devtools.render_timeline(width=14).splitlines()
    assert rows[0] == "checkout: 700ms, [err]"
    assert rows[1].startswith("charge   |========      |")
    assert rows[6].startswith("fetch[1] |        xxxxxx|")

    diagram = devtools.render_mermaid()
    assert diagram.startswith('flowchart TD\n  run_start(["checkout"])')
    assert 'subgraph n5["all fetch (300ms)"]' in diagram
    assert "class n7,n5,run_end error" in diagram


async def test_diff_between_a_failing_and_a_passing_real_run() -> None:
    devtools = Devtools()
    await _run_checkout(devtools, posts_fail=True)
    result = await _run_checkout(devtools, posts_fail=False)

    assert result == Ok("receipt")
    assert devtools.render_diff(devtools.diff_with_previous()) == (
        "~ fetch[1]: error -> success, 300ms"
    )
    exported = devtools.export_run()
    copy = Devtools()
    assert copy.import_run(exported) == devtools.last_run()


async def test_console_and_logging_sinks_on_a_real_run(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    caplog.set_level(logging.INFO, logger="resultflow.events")
    await _run_checkout(
        Devtools(), posts_fail=True, extra_sinks=(console_logger(stream=stream), logging_sink())
    )

    lines = stream.getvalue().splitlines()
    records = [r for r in caplog.records if r.name == "resultflow.events"]
    assert len(lines) == len(records) > 10
    assert [r.getMessage() for r in records] == [line.split(" ", 2)[2] for line in lines]
    assert any(
        " step_retry charge (key=charge:7) attempt 2 in 50ms after " in line for line in lines
    )
    assert lines[-1].endswith("workflow_error 700ms OrderMissing(order_id='7')")


def two_steps(step: SyncStep[OrderMissing], clock: TestClock) -> int:
    a = step(lambda: Ok(1), name="one")
    clock.sleep_sync(0.25)
    return a + step(lambda: Ok(2), name="two")


def test_run_sync_feeds_devtools_too() -> None:
    clock = TestClock()
    devtools = Devtools()

    result = run_sync(two_steps, clock, on_event=devtools.handle_event, clock=clock)

    assert result == Ok(3)
    assert devtools.render() == "workflow two_steps [ok] 250ms\n|-- [ok] one 0ms\n`-- [ok] two 0ms"
