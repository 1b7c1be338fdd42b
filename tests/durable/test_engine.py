"""The durable engine end to end: workflows run by a real worker on a real store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from resultflow import Err, Ok, TaggedError
from resultflow.durable import (
    ChildFailed,
    Client,
    DurableStep,
    Engine,
    EventNotSet,
    ExecutionClosed,
    ExecutionExists,
    ExecutionNotFound,
    ExecutionTimedOut,
    InvalidInput,
    InvalidState,
    NonDeterminism,
    SignalTimedOut,
    Status,
    TaskClosed,
    TaskFailed,
    UnknownToken,
    UnknownWorkflow,
    WaitTimedOut,
)
from resultflow.durable._payload import dumps_result
from resultflow.durable._store import Checkpoint, NewHistory
from resultflow.testing import TestClock


class OutOfStock(TaggedError):
    item: str


@dataclass
class Counter:
    calls: dict[str, int]

    def hit(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, seconds: float = 15.0
) -> None:
    """Poll `check` until it holds (real time: the worker runs in the background)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def status_of(client: Client, execution_id: str) -> Status:
    return (await client.get(execution_id)).unwrap().status


async def wait_status(client: Client, execution_id: str, status: Status) -> None:
    async def check() -> bool:
        return await status_of(client, execution_id) is status

    await eventually(check, f"{execution_id} to be {status.value}")


@pytest.fixture
def clock() -> TestClock:
    return TestClock(autojump=False)


@pytest.fixture
async def engine(store_url: str, clock: TestClock) -> AsyncIterator[Engine]:
    async with Engine(store_url, clock=clock) as opened:
        yield opened


def define(engine: Engine, counter: Counter) -> dict[str, object]:
    """The workflows the tests run, registered on `engine`."""

    @engine.workflow(name="order")
    async def order(step: DurableStep[OutOfStock], order_id: str, qty: int) -> str:
        async def reserve() -> Ok[str] | Err[OutOfStock]:
            counter.hit("reserve")
            if qty > 10:
                return Err(OutOfStock(order_id))
            return Ok(f"r-{order_id}")

        async def charge() -> Ok[int]:
            counter.hit("charge")
            return Ok(qty * 5)

        reservation = await step(reserve, name="reserve")
        amount = await step(charge, name="charge")
        return f"{reservation}:{amount}"

    @engine.workflow(name="timed")
    async def timed(step: DurableStep[SignalTimedOut], seconds: float) -> str:
        async def before() -> Ok[str]:
            counter.hit("before")
            return Ok("b")

        await step(before, name="before")
        await step.sleep(seconds)
        return "woke"

    @engine.workflow(name="approval")
    async def approval(step: DurableStep[SignalTimedOut], timeout: float | None) -> list[object]:
        first = await step.wait_for_signal("approve", timeout=timeout)
        second = await step.wait_for_signal("approve", timeout=timeout)
        return [first, second]

    @engine.workflow(name="tasked")
    async def tasked(step: DurableStep[TaskFailed]) -> object:
        tokens: list[str] = []

        def start(token: str) -> None:
            counter.hit("start")
            tokens.append(token)
            counter.calls["token:" + token] = 1

        return await step.wait_for_task("charge", start)

    @engine.workflow(name="child")
    async def child(step: DurableStep[OutOfStock], qty: int) -> int:
        async def make() -> Ok[int] | Err[OutOfStock]:
            return Err(OutOfStock("child")) if qty > 10 else Ok(qty * 2)

        return await step(make, name="make")

    @engine.workflow(name="parent")
    async def parent(step: DurableStep[ChildFailed], qty: int) -> int:
        return await step.child(child, qty) + 1

    @engine.workflow(name="publisher")
    async def publisher(step: DurableStep[SignalTimedOut]) -> str:
        await step.set_event("stage", {"at": "packing"})
        await step.wait_for_signal("go")
        return "done"

    @engine.workflow(name="recorded")
    async def recorded(step: DurableStep[OutOfStock]) -> tuple[float, str]:
        return (await step.now(), await step.uuid())

    return {
        "order": order,
        "timed": timed,
        "approval": approval,
        "tasked": tasked,
        "child": child,
        "parent": parent,
        "publisher": publisher,
        "recorded": recorded,
    }


async def test_an_execution_runs_each_step_once_and_succeeds(engine: Engine) -> None:
    counter = Counter({})
    wf = define(engine, counter)["order"]
    async with engine.worker(poll_interval=0.05):
        handle = (await engine.client.start(wf, "o-1", 3)).unwrap()  # type: ignore[arg-type]
        assert await handle.result(timeout=15) == Ok("r-o-1:15")
    assert counter.calls == {"reserve": 1, "charge": 1}
    info = (await engine.client.get(handle.execution_id)).unwrap()
    assert info.status is Status.SUCCEEDED and info.error is None
    assert info.started_at is not None and info.ended_at is not None
    history = (await engine.client.history(handle.execution_id)).unwrap()
    assert [e.type for e in history] == [
        "WorkflowStarted",
        "StepStarted",
        "StepSucceeded",
        "StepStarted",
        "StepSucceeded",
        "WorkflowSucceeded",
    ]
    assert (await engine.client.step_result(handle.execution_id, "#1")).unwrap() == Ok("r-o-1")
    assert (await engine.client.step_result(handle.execution_id, "#9")).unwrap() is None
    assert await engine.client.step_result("nope", "#1") == Err(ExecutionNotFound("nope"))


async def test_a_failing_step_fails_the_execution_with_its_error(engine: Engine) -> None:
    wf = define(engine, Counter({}))["order"]
    async with engine.worker(poll_interval=0.05):
        handle = (await engine.client.start(wf, "o-2", 50)).unwrap()  # type: ignore[arg-type]
        assert await handle.result(timeout=15) == Err(OutOfStock("o-2"))
    info = (await engine.client.get(handle.execution_id)).unwrap()
    assert info.status is Status.FAILED
    assert info.error == OutOfStock("o-2")


async def test_a_durable_timer_waits_on_the_engine_clock(engine: Engine, clock: TestClock) -> None:
    counter = Counter({})
    wf = define(engine, counter)["timed"]
    async with engine.worker(poll_interval=0.05):
        handle = (await engine.client.start(wf, 3600.0)).unwrap()  # type: ignore[arg-type]
        await wait_status(engine.client, handle.execution_id, Status.WAITING)
        assert await handle.result(timeout=0.05) == Err(WaitTimedOut(handle.execution_id))
        clock.advance(3600)
        assert await handle.result(timeout=15) == Ok("woke")
    assert counter.calls == {"before": 1}  # the step before the timer ran once
    types = [e.type for e in (await engine.client.history(handle.execution_id)).unwrap()]
    assert "TimerScheduled" in types


async def test_signals_are_buffered_fifo_and_waits_time_out(
    engine: Engine, clock: TestClock
) -> None:
    wf = define(engine, Counter({}))["approval"]
    client = engine.client
    async with engine.worker(poll_interval=0.05):
        early = (await client.start(wf, None, execution_id="early")).unwrap()  # type: ignore[arg-type]
        # Both signals may arrive before the body waits: none is lost, order is kept.
        assert await client.signal("early", "approve", "first") == Ok(None)
        assert await client.signal("early", "approve", {"n": 2}) == Ok(None)
        assert await early.result(timeout=15) == Ok(["first", {"n": 2}])
        assert await client.signal("early", "approve", 3) == Err(
            ExecutionClosed("early", "SUCCEEDED")
        )
        assert await client.signal("ghost", "approve") == Err(ExecutionNotFound("ghost"))
        refused = await client.signal("late-unknown", "x", object())
        assert isinstance(refused, Err) and isinstance(refused.error, InvalidInput)

        late = (await client.start(wf, 60.0, execution_id="late")).unwrap()  # type: ignore[arg-type]
        await wait_status(client, "late", Status.WAITING)
        clock.advance(61)
        assert await late.result(timeout=15) == Err(SignalTimedOut("approve", 60.0))


async def test_external_tasks_complete_fail_and_refuse_bad_tokens(engine: Engine) -> None:
    counter = Counter({})
    wf = define(engine, counter)["tasked"]
    client = engine.client
    async with engine.worker(poll_interval=0.05):
        ok = (await client.start(wf, execution_id="t-ok")).unwrap()  # type: ignore[arg-type]

        async def started() -> bool:
            return any(k.startswith("token:") for k in counter.calls)

        await eventually(started, "the task's start")
        token = next(k for k in counter.calls if k.startswith("token:"))[len("token:") :]
        await wait_status(client, "t-ok", Status.WAITING)
        assert await client.heartbeat_task(token) == Ok(None)
        assert await client.complete_task(token, {"paid": 15}) == Ok(None)
        assert await ok.result(timeout=15) == Ok({"paid": 15})
        assert await client.complete_task(token, 1) == Err(TaskClosed(token))
        assert await client.fail_task("no-such-token", "x") == Err(UnknownToken("no-such-token"))
        refused = await client.complete_task(token, object())  # the codec cannot store it
        assert isinstance(refused, Err) and isinstance(refused.error, InvalidInput)
        assert counter.calls["start"] == 1

        counter.calls.clear()
        failing = (await client.start(wf, execution_id="t-fail")).unwrap()  # type: ignore[arg-type]
        await eventually(started, "the second task's start")
        token = next(k for k in counter.calls if k.startswith("token:"))[len("token:") :]
        assert await client.fail_task(token, "card declined") == Ok(None)
        assert await failing.result(timeout=15) == Err(TaskFailed("charge", "card declined"))


async def test_child_executions_return_values_and_failures(engine: Engine) -> None:
    wf = define(engine, Counter({}))["parent"]
    client = engine.client
    async with engine.worker(poll_interval=0.05):
        good = (await client.start(wf, 4, execution_id="p-good")).unwrap()  # type: ignore[arg-type]
        assert await good.result(timeout=15) == Ok(9)
        bad = (await client.start(wf, 40, execution_id="p-bad")).unwrap()  # type: ignore[arg-type]
        assert await bad.result(timeout=15) == Err(ChildFailed("p-bad/1", OutOfStock("child")))
    child = (await client.get("p-good/1")).unwrap()
    assert child.workflow == "child" and child.parent is not None
    assert (child.parent.execution_id, child.parent.seq) == ("p-good", 1)


async def test_events_are_published_for_clients(engine: Engine) -> None:
    wf = define(engine, Counter({}))["publisher"]
    client = engine.client
    async with engine.worker(poll_interval=0.05):
        handle = (await client.start(wf, execution_id="pub")).unwrap()  # type: ignore[arg-type]
        assert await client.get_event("pub", "stage", timeout=15) == Ok({"at": "packing"})
        assert await client.get_event("pub", "other") == Err(EventNotSet("pub", "other"))
        assert await client.get_event("nope", "stage") == Err(ExecutionNotFound("nope"))
        await client.signal("pub", "go")
        assert await handle.result(timeout=15) == Ok("done")


async def test_recorded_values_are_the_same_on_replay(engine: Engine, clock: TestClock) -> None:
    wf = define(engine, Counter({}))["recorded"]
    async with engine.worker(poll_interval=0.05):
        handle = (await engine.client.start(wf, execution_id="rec")).unwrap()  # type: ignore[arg-type]
        first = (await handle.result(timeout=15)).unwrap()
    assert first[0] == clock.now()
    # Replaying the finished checkpoints gives the recorded values back.
    assert (await engine.client.step_result("rec", "#1")).unwrap() == Ok(first[0])
    assert (await engine.client.step_result("rec", "#2")).unwrap() == Ok(first[1])


async def test_a_taken_over_execution_replays_without_rerunning_finished_steps(
    engine: Engine,
) -> None:
    counter = Counter({})
    wf = define(engine, counter)["order"]
    client = engine.client
    (await client.start(wf, "o-3", 2, execution_id="crash")).unwrap()  # type: ignore[arg-type]
    store = engine.store
    # A worker that claimed it, finished `reserve`, and died (its lease already expired).
    claimed = await store.claim(
        "dead", engine.registered, ["default"], limit=1, lease_s=-1, now=engine.clock.now()
    )
    assert [r.execution_id for r in claimed] == ["crash"]
    reserve = Checkpoint("crash", 1, "#1", 1, "step", "reserve", dumps_result(Ok("r-o-3")), 1.0)
    assert await store.save_checkpoint("dead", reserve, [NewHistory("StepSucceeded", 1.0, "#1")])
    async with engine.worker(poll_interval=0.05):
        assert await client.handle("crash").result(timeout=15) == Ok("r-o-3:10")
    assert counter.calls == {"charge": 1}  # reserve came from its checkpoint


async def test_a_changed_body_fails_with_nondeterminism(engine: Engine) -> None:
    counter = Counter({})
    wf = define(engine, counter)["order"]
    (await engine.client.start(wf, "o-4", 2, execution_id="drift")).unwrap()  # type: ignore[arg-type]
    store = engine.store
    await store.claim(
        "dead", engine.registered, ["default"], limit=1, lease_s=-1, now=engine.clock.now()
    )
    recorded = Checkpoint("drift", 1, "#1", 1, "step", "reserve-v0", dumps_result(Ok("old")), 1.0)
    assert await store.save_checkpoint("dead", recorded)
    async with engine.worker(poll_interval=0.05):
        result = await engine.client.handle("drift").result(timeout=15)
    assert result == Err(NonDeterminism(1, "step:reserve-v0", "step:reserve"))
    assert counter.calls == {}
    assert (await engine.client.step_result("drift", "#1")).unwrap() == Ok("old")  # not overwritten
    assert (await engine.client.get("drift")).unwrap().status is Status.FAILED


async def test_starting_checks_input_ids_and_workflows(engine: Engine, store_url: str) -> None:
    wf = define(engine, Counter({}))["order"]
    client = engine.client
    bad = await client.start(wf, object(), 1)  # type: ignore[arg-type]
    assert isinstance(bad, Err) and isinstance(bad.error, InvalidInput)
    assert "args[0]" in bad.error.message
    assert len(await client.list()) == 0  # nothing stored
    assert isinstance(await client.start(wf, "o", 1, execution_id="dup"), Ok)  # type: ignore[arg-type]
    assert await client.start(wf, "o", 2, execution_id="dup") == Err(ExecutionExists("dup"))  # type: ignore[arg-type]
    again = (
        await client.start(wf, "o", 3, execution_id="dup", on_conflict="use_existing")
    ).unwrap()  # type: ignore[arg-type]
    assert again.execution_id == "dup"
    assert await client.start("nope") == Err(UnknownWorkflow("nope", "latest"))
    assert await client.start("order", version="9") == Err(UnknownWorkflow("order", "9"))
    replaced = await client.start(wf, "o", 4, execution_id="dup", on_conflict="terminate_existing")  # type: ignore[arg-type]
    assert isinstance(replaced, Ok)
    assert (await client.get("dup")).unwrap().attempts == 2
    assert isinstance(await client.start(wf, "o", 1, timeout=float("nan")), Err)  # type: ignore[arg-type]

    # A client with no workflow definitions starts by name.
    bare = Client(store_url)
    try:
        assert [w.name for w in await bare.workflows()].count("order") == 1
        handle = (await bare.start("order", "o-bare", 1)).unwrap()
        assert (await bare.get(handle.execution_id)).unwrap().status is Status.PENDING
    finally:
        await bare.close()


async def test_control_of_executions(engine: Engine, clock: TestClock) -> None:
    wf = define(engine, Counter({}))["timed"]
    client = engine.client
    assert await client.pause("ghost") == Err(ExecutionNotFound("ghost"))
    (await client.start(wf, 100.0, execution_id="ctl")).unwrap()  # type: ignore[arg-type]
    assert await client.unpause("ctl") == Err(InvalidState("ctl", "PENDING", "unpause"))
    assert await client.pause("ctl") == Ok(None)
    assert await status_of(client, "ctl") is Status.PAUSED
    async with engine.worker(poll_interval=0.05):
        assert await client.resume("ctl") == Err(InvalidState("ctl", "PAUSED", "resume"))
        assert await client.unpause("ctl") == Ok(None)
        await wait_status(client, "ctl", Status.WAITING)
        assert await client.terminate("ctl", "no longer needed") == Ok(None)
        assert await status_of(client, "ctl") is Status.TERMINATED
        assert await client.cancel("ctl") == Err(InvalidState("ctl", "TERMINATED", "cancel"))
        assert isinstance(await client.handle("ctl").result(), Err)

        (await client.start(wf, 100.0, execution_id="cnl")).unwrap()  # type: ignore[arg-type]
        await wait_status(client, "cnl", Status.WAITING)
        assert await client.cancel("cnl", "changed mind") == Ok(None)
        await wait_status(client, "cnl", Status.CANCELLED)


async def test_an_execution_past_its_timeout_ends_timed_out(
    engine: Engine, clock: TestClock
) -> None:
    wf = define(engine, Counter({}))["timed"]
    async with engine.worker(poll_interval=0.05):
        handle = (await engine.client.start(wf, 1000.0, timeout=10.0)).unwrap()  # type: ignore[arg-type]
        await wait_status(engine.client, handle.execution_id, Status.WAITING)
        clock.advance(11)
        assert await handle.result(timeout=15) == Err(ExecutionTimedOut(10.0))
    assert (await engine.client.get(handle.execution_id)).unwrap().status is Status.TIMED_OUT


async def test_start_delay_follows_the_engine_clock(engine: Engine, clock: TestClock) -> None:
    counter = Counter({})
    wf = define(engine, counter)["order"]
    async with engine.worker(poll_interval=0.05):
        handle = (await engine.client.start(wf, "o-5", 1, start_delay=30.0)).unwrap()  # type: ignore[arg-type]
        assert await handle.result(timeout=0.2) == Err(WaitTimedOut(handle.execution_id))
        assert counter.calls == {}
        clock.advance(30)
        assert await handle.result(timeout=15) == Ok("r-o-5:5")


async def test_a_durable_saga_compensates_once_on_failure_and_on_cancel(engine: Engine) -> None:
    from resultflow.saga import SagaStep

    undone: list[str] = []

    @engine.saga_workflow(name="trip")
    async def trip(saga: SagaStep[OutOfStock], fail: bool) -> str:
        async def book() -> Ok[str]:
            return Ok("hotel-1")

        async def unbook(booking: str) -> Ok[None]:
            undone.append(booking)
            return Ok(None)

        async def pay() -> Ok[int] | Err[OutOfStock]:
            return Err(OutOfStock("seat")) if fail else Ok(1)

        booking = await saga.step(book, name="book", compensate=unbook)
        await saga.step(pay, name="pay")
        await DurableStep(saga._run).wait_for_signal("go")  # pyright: ignore[reportPrivateUsage]
        return booking

    client = engine.client
    async with engine.worker(poll_interval=0.05):
        failed = (await client.start(trip, True, execution_id="trip-fail")).unwrap()  # type: ignore[arg-type]
        assert await failed.result(timeout=15) == Err(OutOfStock("seat"))
        assert undone == ["hotel-1"]
        history = [e.type for e in (await client.history("trip-fail")).unwrap()]
        assert history.count("StepSucceeded") >= 2  # book and its compensation were checkpointed

        (await client.start(trip, False, execution_id="trip-cancel")).unwrap()  # type: ignore[arg-type]
        await wait_status(client, "trip-cancel", Status.WAITING)
        assert await client.cancel("trip-cancel", "changed plans") == Ok(None)
        await wait_status(client, "trip-cancel", Status.CANCELLED)
    assert undone == ["hotel-1", "hotel-1"]


async def test_postgres_workers_wake_on_notify_not_on_polls(
    postgres_url: str, postgres_schema: str
) -> None:
    from tests.durable.conftest import postgres_store_url

    url = postgres_store_url(postgres_url, postgres_schema)
    counter = Counter({})
    async with Engine(url) as engine:
        wf = define(engine, counter)["order"]
        outside = Client(url)  # another process's client: no in-process wake-up
        try:
            async with engine.worker(poll_interval=3600):
                await asyncio.sleep(0.3)  # real-sleep-ok: the worker starts listening
                handle = (await outside.start("order", "o-n", 1)).unwrap()
                assert await handle.result(timeout=20) == Ok("r-o-n:5")
        finally:
            await outside.close()
    assert wf is not None and counter.calls == {"reserve": 1, "charge": 1}
