"""Saga and approval usage that mypy and pyright must reject (each marked line)."""

from __future__ import annotations

from typing import ClassVar

from resultflow import Err, Ok, Step, workflow
from resultflow.errors import ApprovalRejected, PendingApproval, TaggedError
from resultflow.hitl import Completed, HITLOrchestrator, MemoryApprovalStore, approval_step
from resultflow.saga import SagaStep, run_saga, saga_workflow


class OutOfStock(TaggedError):
    tag: ClassVar[str] = "typing.rejected.OutOfStock"
    sku: str


class Declined(TaggedError):
    tag: ClassVar[str] = "typing.rejected.Declined"
    reason: str


async def reserve(sku: str) -> Ok[str] | Err[OutOfStock]:
    return Ok(sku)


async def charge(amount: int) -> Ok[int] | Err[Declined]:
    return Ok(amount)


def release(hold: str) -> None:
    return None


async def body(saga: SagaStep[OutOfStock], sku: str) -> str:
    await saga.step(lambda: charge(1), name="charge")  # expect-error
    await saga.step(lambda: charge(1), compensate=release)  # expect-error
    await saga.step(Ok(1), compensate=release)  # expect-error
    return await saga.step(lambda: reserve(sku), compensate=release)


async def fails_outside_union(saga: SagaStep[OutOfStock]) -> str:
    saga.fail(Declined("no"))  # expect-error


async def wrong_arguments() -> None:
    await run_saga(body, 42)  # expect-error
    wf = saga_workflow(body)
    await wf(42)  # expect-error


async def approvals(step: Step[PendingApproval | ApprovalRejected]) -> None:
    approval_step("k", lambda: "yes")  # expect-error
    orch = HITLOrchestrator(MemoryApprovalStore())

    async def needs_int(step: Step[PendingApproval], n: int) -> int:
        return n

    await orch.execute(needs_int, "three")  # expect-error


async def typed_orchestrator(step: Step[PendingApproval | ApprovalRejected]) -> None:
    orch = HITLOrchestrator(MemoryApprovalStore())

    @workflow
    async def checkout(step: Step[PendingApproval], sku: str, qty: int) -> int:
        return qty

    await orch.execute(checkout, 1, 2)  # expect-error
    await orch.execute(checkout, "sku")  # expect-error
    await orch.execute(checkout, "sku", 1, 2)  # expect-error
    await orch.execute(checkout, "sku", 1, run_id=5)  # expect-error
    amount: str = await step(orch.approval("k", value_type=int), key="k")  # expect-error
    orch.approval("k", value_type="int")  # expect-error
    resumed = await orch.resume("r", checkout)
    if isinstance(resumed, Completed):
        text: str = resumed.result  # expect-error
        print(text)
    granted = await orch.grant("k", 1, workflow=checkout)
    for outcome in granted:
        if isinstance(outcome, Completed):
            label: str = outcome.result  # expect-error
            print(label)
