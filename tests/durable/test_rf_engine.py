"""The `rf_engine` fixture: durable workflows tested without waiting for their timers."""

from __future__ import annotations

from resultflow import Err, Ok
from resultflow.durable import DurableStep, Engine, ExecutionTimedOut, SignalTimedOut, Status
from resultflow.testing import DurableTestEnv

elsewhere = Engine("sqlite://:memory:")


@elsewhere.workflow(name="reminder")
async def reminder(step: DurableStep[SignalTimedOut], days: int) -> str:
    await step.sleep(days * 86_400)
    return f"reminded after {days} days"


async def test_a_day_long_timer_fires_in_virtual_time(rf_engine: DurableTestEnv) -> None:
    rf_engine.register(reminder)
    started = rf_engine.clock.now()
    handle = (await rf_engine.client.start(reminder, 3)).unwrap()
    assert await handle.result(timeout=30) == Ok("reminded after 3 days")
    assert rf_engine.clock.now() - started >= 3 * 86_400
    info = (await rf_engine.client.get(handle.execution_id)).unwrap()
    assert info.status is Status.SUCCEEDED


async def test_workflows_defined_on_the_fixture_engine(rf_engine: DurableTestEnv) -> None:
    @rf_engine.engine.workflow(name="wait-for-ok")
    async def wait_for_ok(step: DurableStep[SignalTimedOut]) -> object:
        return await step.wait_for_signal("ok", timeout=3600)

    timed_out = (await rf_engine.client.start(wait_for_ok)).unwrap()
    assert await timed_out.result(timeout=30) == Err(SignalTimedOut("ok", 3600))

    rf_engine.register(reminder)
    delayed = (await rf_engine.client.start(reminder, 1, start_delay=7200, timeout=10)).unwrap()
    assert await delayed.result(timeout=30) == Err(ExecutionTimedOut(10.0))
