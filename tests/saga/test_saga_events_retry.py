"""Sagas: compensation events, compensation retries on virtual time, typed results."""

from __future__ import annotations

from typing import ClassVar, assert_type

from resultflow import Err, Ok
from resultflow.errors import SagaCompensationFailed, TaggedError, UnexpectedError
from resultflow.events import (
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    WorkflowEvent,
    WorkflowFailed,
)
from resultflow.reliability._retry import RetryPolicy
from resultflow.saga import SagaStep, run_saga
from resultflow.testing._clock import TestClock


class Declined(TaggedError):
    tag: ClassVar[str] = "saga_ev.Declined"
    reason: str


class Recorder:
    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []

    def __call__(self, event: WorkflowEvent, ctx: object) -> None:
        self.events.append(event)

    def of(self, *kinds: str) -> list[WorkflowEvent]:
        return [e for e in self.events if e.type in kinds]


async def test_compensation_events_per_step_in_rollback_order() -> None:
    rec = Recorder()
    clock = TestClock()

    async def slow_refund(value: str) -> None:
        await clock.sleep(2.5)

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(Ok("hold"), name="reserve", compensate=lambda v: Err("stuck"))
        await saga.step(Ok("pay"), name="charge", compensate=slow_refund)
        saga.fail(Declined("no"))

    result = await run_saga(body, on_event=rec, clock=clock, workflow_id="w1", context="req")
    assert isinstance(result, Err)
    comp = rec.of("compensation_start", "compensation_success", "compensation_error")
    assert [(e.type, getattr(e, "name", None)) for e in comp] == [
        ("compensation_start", "charge"),
        ("compensation_success", "charge"),
        ("compensation_start", "reserve"),
        ("compensation_error", "reserve"),
    ]
    start, success, _, error = comp
    assert isinstance(start, CompensationStarted)
    assert isinstance(success, CompensationSucceeded)
    assert isinstance(error, CompensationFailed)
    assert success.duration_s == 2.5
    assert error.error == "stuck"
    assert start.step_id is not None and start.step_id == success.step_id
    assert all(e.workflow_id == "w1" and e.context == "req" for e in comp)
    # compensations finish before the run reports its failure
    last = rec.events[-1]
    assert isinstance(last, WorkflowFailed)
    assert isinstance(last.error, SagaCompensationFailed)
    assert rec.events.index(error) < len(rec.events) - 1


async def test_no_listener_no_compensation_events_needed() -> None:
    undone: list[str] = []

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(Ok("hold"), compensate=undone.append)
        saga.fail(Declined("no"))

    assert await run_saga(body) == Err(Declined("no"))
    assert undone == ["hold"]


async def test_compensation_retries_through_the_run_clock() -> None:
    clock = TestClock()
    attempts: list[float] = []

    async def flaky_refund(value: str) -> Ok[None] | Err[str]:
        attempts.append(clock.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("bank busy")
        return Ok(None)

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(
            Ok("pay"),
            name="charge",
            compensate=flaky_refund,
            compensate_retry=RetryPolicy(attempts=5, backoff="fixed", initial=10.0, jitter=False),
        )
        saga.fail(Declined("no"))

    rec = Recorder()
    result = await run_saga(body, clock=clock, on_event=rec)
    assert result == Err(Declined("no"))
    assert attempts == [0.0, 10.0, 20.0]
    assert [e.type for e in rec.of("compensation_success", "compensation_error")] == [
        "compensation_success"
    ]


async def test_compensation_retries_exhausted_reports_the_last_error() -> None:
    clock = TestClock()
    calls: list[int] = []

    def refund(value: str) -> Err[str]:
        calls.append(1)
        return Err(f"refused #{len(calls)}")

    async def body(saga: SagaStep[Declined]) -> None:
        await saga.step(Ok("pay"), name="charge", compensate=refund, compensate_retry=3)
        saga.fail(Declined("no"))

    result = await run_saga(body, clock=clock)
    assert len(calls) == 3
    assert result == Err(
        SagaCompensationFailed(error=Declined("no"), failures=[("charge", "refused #3")])
    )


async def test_run_saga_result_type() -> None:
    async def body(saga: SagaStep[Declined], n: int) -> str:
        return str(await saga.step(Ok(n)))

    result = await run_saga(body, 4)
    assert_type(
        result,
        Ok[str]
        | Err[Declined | UnexpectedError | SagaCompensationFailed[Declined | UnexpectedError]],
    )
    assert result == Ok("4")
