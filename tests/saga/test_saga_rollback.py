"""Sagas: reverse-order compensation, exactly once, failures collected, raised errors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar

import pytest

from resultflow import Err, MemoryCache, Ok, Step, run
from resultflow.cache import CacheEntry
from resultflow.errors import (
    PendingApproval,
    SagaCompensationFailed,
    TaggedError,
    UnexpectedError,
    WorkflowTimeout,
)
from resultflow.saga import SagaStep, run_saga, saga_workflow
from resultflow.testing._clock import TestClock


class OutOfStock(TaggedError):
    tag: ClassVar[str] = "saga_rb.OutOfStock"
    sku: str


class Declined(TaggedError):
    tag: ClassVar[str] = "saga_rb.Declined"
    reason: str


class RefundFailed(TaggedError):
    tag: ClassVar[str] = "saga_rb.RefundFailed"
    order: str


class Ledger:
    """Records every action and undo in order."""

    def __init__(self) -> None:
        self.log: list[str] = []

    def undo(self, label: str) -> Callable[[object], None]:
        def compensate(value: object) -> None:
            self.log.append(f"undo {label}:{value}")

        return compensate


async def test_success_returns_the_value_and_compensates_nothing() -> None:
    ledger = Ledger()

    async def body(saga: SagaStep[OutOfStock], qty: int) -> int:
        a = await saga.step(lambda: Ok(qty), name="reserve", compensate=ledger.undo("reserve"))
        b = await saga.step(lambda: Ok(a * 2), name="charge", compensate=ledger.undo("charge"))
        assert saga.compensations == ["reserve", "charge"]
        return b

    assert await run_saga(body, 3) == Ok(6)
    assert ledger.log == []


async def test_failure_compensates_finished_steps_in_reverse_order_once() -> None:
    ledger = Ledger()
    calls: list[str] = []

    async def body(saga: SagaStep[OutOfStock | Declined]) -> str:
        await saga.step(lambda: Ok("r1"), name="reserve", compensate=ledger.undo("reserve"))
        await saga.step(lambda: Ok("p1"), name="charge", compensate=ledger.undo("charge"))
        await saga.step(lambda: Ok("n1"), name="notify")  # nothing to undo
        await saga.step(lambda: Ok("s1"), name="ship", compensate=ledger.undo("ship"))

        def decline() -> Ok[str] | Err[Declined]:
            calls.append("confirm")
            return Err(Declined("card"))

        await saga.step(decline, name="confirm", compensate=ledger.undo("confirm"))
        return "done"

    result = await run_saga(body)
    assert result == Err(Declined("card"))
    assert ledger.log == ["undo ship:s1", "undo charge:p1", "undo reserve:r1"]
    assert calls == ["confirm"]


async def test_failing_compensation_does_not_stop_the_others() -> None:
    log: list[str] = []

    def refund(value: str) -> Err[RefundFailed]:
        log.append("refund")
        return Err(RefundFailed(value))

    def release(value: str) -> None:
        log.append("release")
        raise RuntimeError("warehouse down")

    async def cancel_mail(value: str) -> Ok[None]:
        await asyncio.sleep(0)
        log.append("cancel mail")
        return Ok(None)

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(lambda: Ok("hold-1"), name="reserve", compensate=release)
        await saga.step(lambda: Ok("mail-1"), name="mail", compensate=cancel_mail)
        await saga.step(lambda: Ok("pay-1"), name="charge", compensate=refund)
        await saga.step(lambda: Err(Declined("fraud")), name="ship")

    result = await run_saga(body)
    assert log == ["refund", "cancel mail", "release"]
    assert isinstance(result, Err)
    failed = result.error
    assert isinstance(failed, SagaCompensationFailed)
    assert failed.error == Declined("fraud")
    names = [name for name, _ in failed.failures]
    assert names == ["charge", "reserve"]
    assert failed.failures[0][1] == RefundFailed("pay-1")
    raised = failed.failures[1][1]
    assert isinstance(raised, UnexpectedError)
    assert raised.exception_type == "RuntimeError"
    assert raised.message == "warehouse down"
    assert raised.step == "reserve"


async def test_raising_body_compensates_and_returns_unexpected_error_with_cause() -> None:
    ledger = Ledger()
    boom = ValueError("bad address")

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(lambda: Ok(1), name="reserve", compensate=ledger.undo("reserve"))
        raise boom

    result = await run_saga(body)
    assert ledger.log == ["undo reserve:1"]
    assert isinstance(result, Err)
    assert isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "ValueError"
    assert result.cause is boom


async def test_original_err_keeps_its_cause_when_compensations_fail() -> None:
    boom = ConnectionError("gateway")

    async def charge() -> int:
        raise boom

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(
            lambda: Ok(1), name="reserve", compensate=lambda v: Err(RefundFailed(str(v)))
        )
        await saga.try_(charge, error=Declined("gateway"), name="charge")

    result = await run_saga(body)
    assert isinstance(result, Err)
    assert result.cause is boom
    assert result.error == SagaCompensationFailed(
        error=Declined("gateway"), failures=[("reserve", RefundFailed("1"))]
    )


async def test_original_err_keeps_its_cause_when_compensations_succeed() -> None:
    boom = ConnectionError("gateway")
    undone: list[int] = []

    async def charge() -> int:
        raise boom

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(lambda: Ok(1), name="reserve", compensate=undone.append)
        await saga.try_(charge, error=Declined("gateway"), name="charge")

    result = await run_saga(body)
    assert result == Err(Declined("gateway"))
    assert isinstance(result, Err)
    assert result.cause is boom
    assert undone == [1]


async def test_try_registers_a_compensation_and_maps_exceptions() -> None:
    undone: list[str] = []

    def book() -> str:
        return "room-7"

    def fail() -> str:
        raise KeyError("no seat")

    async def body(saga: SagaStep[OutOfStock]) -> None:
        await saga.try_(book, error=OutOfStock("room"), compensate=undone.append, name="hotel")
        await saga.try_(fail, on_error=lambda exc: OutOfStock(str(exc)), name="flight")

    result = await run_saga(body)
    assert result == Err(OutOfStock("'no seat'"))
    assert undone == ["room-7"]


async def test_compensation_receives_each_steps_value_and_async_compensations_run() -> None:
    seen: list[object] = []

    async def release(hold: dict[str, int]) -> None:
        await asyncio.sleep(0)
        seen.append(hold)

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(lambda: Ok({"sku": 4}), name="reserve", compensate=release)
        saga.fail(Declined("late"))

    assert await run_saga(body) == Err(Declined("late"))
    assert seen == [{"sku": 4}]


async def test_plain_step_features_still_work_on_a_saga_step() -> None:
    undone: list[object] = []

    async def body(saga: SagaStep[Declined]) -> int:
        a, b = await saga.all(Ok(1), Ok(2))
        c = await saga(lambda: Ok(3), key="c")
        d = await saga.step(lambda: Ok(a + b + c), name="sum", compensate=undone.append)
        values = await saga.map([1, 2], lambda x: Ok(x * 10))
        return d + sum(values)

    assert await run_saga(body, cache=MemoryCache()) == Ok(36)
    assert undone == []


async def test_steps_without_compensate_and_failed_steps_are_not_compensated() -> None:
    undone: list[str] = []

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(lambda: Ok("a"), name="a")
        await saga.step(lambda: Err(Declined("b")), name="b", compensate=undone.append)

    assert await run_saga(body) == Err(Declined("b"))
    assert undone == []


async def test_a_pending_approval_pauses_without_compensating() -> None:
    undone: list[str] = []

    async def body(saga: SagaStep[PendingApproval]) -> None:
        await saga.step(lambda: Ok("hold"), name="reserve", compensate=undone.append)
        await saga.step(lambda: Err(PendingApproval("ok-1")), name="approve")

    assert await run_saga(body) == Err(PendingApproval("ok-1"))
    assert undone == []


async def test_cached_keyed_steps_register_their_compensation_once() -> None:
    undone: list[str] = []
    executed: list[str] = []

    def reserve() -> Ok[str]:
        executed.append("reserve")
        return Ok("hold")

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(reserve, key="reserve", compensate=undone.append)
        await saga.step(reserve, key="reserve", compensate=undone.append)  # a cache hit
        await saga.step(lambda: Err(Declined("x")), name="pay")

    state = {"reserve": CacheEntry(Ok("hold-from-yesterday"))}
    result = await run_saga(body, resume_state=state)
    assert result == Err(Declined("x"))
    assert executed == []
    assert undone == ["hold-from-yesterday"]

    undone.clear()
    assert await run_saga(body, cache=MemoryCache()) == Err(Declined("x"))
    assert executed == ["reserve"]
    assert undone == ["hold"]


async def test_manual_compensate_runs_each_compensation_once() -> None:
    undone: list[int] = []

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(Ok(1), compensate=undone.append)
        await saga.step(Ok(2), compensate=undone.append)
        assert await saga.compensate() == []
        assert saga.compensations == []
        assert await saga.compensate() == []
        saga.fail(Declined("after manual rollback"))

    assert await run_saga(body) == Err(Declined("after manual rollback"))
    assert undone == [2, 1]


async def test_saga_workflow_decorator_with_and_without_options() -> None:
    undone: list[str] = []

    @saga_workflow
    async def book(saga: SagaStep[Declined], city: str) -> str:
        return await saga.step(lambda: Ok(f"hotel:{city}"), compensate=undone.append)

    @saga_workflow(name="trip", workflow_id="trip-1")
    async def trip(saga: SagaStep[Declined], city: str, *, fail: bool) -> str:
        hotel = await saga.step(lambda: Ok(f"hotel:{city}"), compensate=undone.append)
        if fail:
            saga.fail(Declined("flight"))
        return hotel

    assert book.name.endswith("book")
    assert await book("Oslo") == Ok("hotel:Oslo")
    assert trip.name == "trip"
    assert await trip("Rome", fail=False) == Ok("hotel:Rome")
    assert await trip("Rome", fail=True) == Err(Declined("flight"))
    assert undone == ["hotel:Rome"]


async def test_saga_step_from_a_plain_run_body() -> None:
    undone: list[int] = []

    async def body(step: Step[Declined]) -> list[tuple[str, object]]:
        saga = SagaStep[Declined].from_step(step)
        await saga.step(Ok(5), name="five", compensate=undone.append)
        return await saga.compensate()

    assert await run(body) == Ok([])
    assert undone == [5]


async def test_bad_compensate_arguments_are_type_errors() -> None:
    async def not_callable(saga: SagaStep[Declined]) -> None:
        await saga.step(Ok(1), compensate="undo")  # type: ignore[call-overload]

    async def retry_without_compensate(saga: SagaStep[Declined]) -> None:
        await saga.step(Ok(1), compensate_retry=3)

    first = await run_saga(not_callable)
    assert isinstance(first, Err)
    assert isinstance(first.error, UnexpectedError)
    assert "compensate= must be a callable" in first.error.message
    second = await run_saga(retry_without_compensate)
    assert isinstance(second, Err)
    assert isinstance(second.error, UnexpectedError)
    assert "needs a compensate=" in second.error.message


async def test_cancellation_runs_compensations_shielded_then_propagates() -> None:
    undone: list[str] = []
    started = asyncio.Event()
    release_done = asyncio.Event()

    async def slow_release(value: str) -> None:
        await asyncio.sleep(0.01)
        undone.append(value)
        release_done.set()

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(lambda: Ok("hold"), name="reserve", compensate=slow_release)
        await saga.step(lambda: Ok("pay"), name="charge", compensate=undone.append)
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(run_saga(body))
    await started.wait()
    task.cancel()
    await asyncio.sleep(0)
    task.cancel()  # a second cancellation waits for the rollback too
    with pytest.raises(asyncio.CancelledError):
        await task
    assert release_done.is_set()
    assert undone == ["pay", "hold"]


async def test_a_workflow_timeout_rolls_the_saga_back() -> None:
    clock = TestClock()
    undone: list[str] = []

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(lambda: Ok("hold"), name="reserve", compensate=undone.append)
        await clock.sleep(60)

    result = await run_saga(body, clock=clock, timeout=5)
    assert result == Err(WorkflowTimeout(seconds=5))
    assert undone == ["hold"]


async def test_keyboard_interrupt_propagates_without_compensating() -> None:
    undone: list[str] = []

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(lambda: Ok("hold"), compensate=undone.append)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await run_saga(body)
    assert undone == []


async def test_default_compensation_names() -> None:
    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(Ok(1), compensate=lambda v: Err("a"))
        await saga.step(Ok(2), key="k2", compensate=lambda v: Err("b"))
        saga.fail(Declined("x"))

    result = await run_saga(body)
    assert isinstance(result, Err)
    assert isinstance(result.error, SagaCompensationFailed)
    assert result.error.failures == [("k2", "b"), ("step 1", "a")]


async def test_a_failure_inside_a_concurrent_scope_rolls_back() -> None:
    undone: list[str] = []

    async def slow_ok() -> Ok[int]:
        await asyncio.sleep(0)
        return Ok(1)

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(Ok("hold"), name="reserve", compensate=undone.append)
        await saga.all(slow_ok, lambda: Err(Declined("in scope")))

    assert await run_saga(body) == Err(Declined("in scope"))
    assert undone == ["hold"]
