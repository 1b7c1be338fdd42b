"""Saga and approval usage that mypy and pyright must reject (each marked line)."""

from __future__ import annotations

from typing import ClassVar

from resultflow import Err, Ok, Step
from resultflow.errors import ApprovalRejected, PendingApproval, TaggedError
from resultflow.hitl import HITLOrchestrator, MemoryApprovalStore, approval_step
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
