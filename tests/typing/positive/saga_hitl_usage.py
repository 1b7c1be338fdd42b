"""Typed usage of sagas, approval steps, stores and the orchestrator (mypy and pyright)."""

from __future__ import annotations

from typing import ClassVar, TypeAlias, assert_type

from resultflow import Err, Ok, Step, UnexpectedError, workflow
from resultflow.errors import ApprovalRejected, PendingApproval, SagaCompensationFailed, TaggedError
from resultflow.hitl import (
    ApprovalDecision,
    ApprovalMismatch,
    ApprovalOp,
    ApprovalStatus,
    Approved,
    Completed,
    Failed,
    HandlerResponse,
    HITLOrchestrator,
    MemoryApprovalStore,
    Outcome,
    Paused,
    Pending,
    ResumedRuns,
    approval_handler,
    approval_step,
)
from resultflow.reliability._retry import RetryPolicy
from resultflow.saga import SagaStep, run_saga, saga_workflow


class OutOfStock(TaggedError):
    tag: ClassVar[str] = "typing.saga.OutOfStock"
    sku: str


class Declined(TaggedError):
    tag: ClassVar[str] = "typing.saga.Declined"
    reason: str


async def reserve(sku: str) -> Ok[str] | Err[OutOfStock]:
    return Ok(f"hold:{sku}")


async def charge(amount: int) -> Ok[int] | Err[Declined]:
    return Ok(amount)


async def release(hold: str) -> None:
    return None


def refund(payment: int) -> Ok[None] | Err[str]:
    return Ok(None)


async def checkout(saga: SagaStep[OutOfStock | Declined], sku: str, amount: int) -> str:
    hold = await saga.step(lambda: reserve(sku), name="reserve", compensate=release)
    assert_type(hold, str)
    paid = await saga.step(
        lambda: charge(amount), name="charge", compensate=refund, compensate_retry=RetryPolicy()
    )
    assert_type(paid, int)
    plain = await saga(Ok(3))  # a SagaStep is a Step
    assert_type(plain, int)
    both = await saga.all(Ok(1), Ok("a"))
    assert_type(both, tuple[int, str])
    raised = await saga.try_(lambda: 5, error=Declined("x"), compensate=lambda n: None)
    assert_type(raised, int)
    return hold


SagaErr = OutOfStock | Declined | UnexpectedError


async def sagas() -> None:
    result = await run_saga(checkout, "A", 10)
    assert_type(result, Ok[str] | Err[SagaErr | SagaCompensationFailed[SagaErr]])
    checkout_wf = saga_workflow(checkout)
    assert_type(
        await checkout_wf("A", 10), Ok[str] | Err[SagaErr | SagaCompensationFailed[SagaErr]]
    )

    @saga_workflow(name="book")
    async def book(saga: SagaStep[Declined], city: str) -> int:
        return await saga.step(lambda: charge(1), compensate=refund)

    assert_type(
        await book("Oslo"),
        Ok[int]
        | Err[Declined | UnexpectedError | SagaCompensationFailed[Declined | UnexpectedError]],
    )


async def manager_check() -> ApprovalStatus[int]:
    return Approved(5) if 2 > 1 else Pending("waiting")


async def approvals() -> None:
    store = MemoryApprovalStore()
    orch = HITLOrchestrator(store, default_expiry=60.0)

    @workflow
    async def refund_flow(step: Step[PendingApproval | ApprovalRejected], order: str) -> int:
        amount = await step(approval_step(f"refund:{order}", manager_check), key=f"refund:{order}")
        assert_type(amount, int)
        return amount

    outcome = await orch.execute(refund_flow, "o-1")
    assert_type(
        outcome,
        Completed[int] | Paused | Failed[PendingApproval | ApprovalRejected | UnexpectedError],
    )
    if isinstance(outcome, Completed):
        assert_type(outcome.result, int)

    async def body(step: Step[PendingApproval | ApprovalRejected], n: int) -> str:
        await step(orch.approval("k"), key="k")
        return str(n)

    second = await orch.execute(body, 3, run_id="r")
    assert_type(
        second,
        Completed[str] | Paused | Failed[PendingApproval | ApprovalRejected | UnexpectedError],
    )
    decision = await store.grant("k", 1, actor="ann")
    assert_type(decision, ApprovalDecision)
    handle = approval_handler(store, lambda request: "ann")
    response = await handle({"key": "k", "action": "approve"})
    assert_type(response, HandlerResponse)


Errs: TypeAlias = PendingApproval | ApprovalRejected | UnexpectedError | ApprovalMismatch


async def approved_int() -> Approved[int]:
    return Approved(3)


def pending_or_str() -> Pending | Approved[str]:
    return Pending()


async def typed_approvals() -> None:
    orch = HITLOrchestrator(MemoryApprovalStore())
    # value types: from value_type=, or inferred from what the check returns
    assert_type(orch.approval("k"), ApprovalOp[object])
    assert_type(orch.approval("k", value_type=int), ApprovalOp[int])
    assert_type(orch.approval("k", "why", value_type=str), ApprovalOp[str])
    assert_type(approval_step("k", approved_int), ApprovalOp[int])
    assert_type(approval_step("k", pending_or_str), ApprovalOp[str])
    assert_type(approval_step("k", lambda: Approved(2.5)), ApprovalOp[float])
    assert_type(approval_step("k", manager_check, value_type=bool), ApprovalOp[bool])

    @workflow
    async def refund(step: Step[PendingApproval | ApprovalRejected], order: str, n: int) -> int:
        amount = await step(orch.approval(f"refund:{order}", value_type=int), key=order)
        assert_type(amount, int)
        return amount * n

    # execute checks the arguments against the workflow's parameters
    first = await orch.execute(refund, "o-1", 2)
    assert_type(
        first,
        Completed[int] | Paused | Failed[PendingApproval | ApprovalRejected | UnexpectedError],
    )
    await orch.execute(refund, "o-2", 3, run_id="r-2")

    # resume and decisions typed by the workflow they resume
    resumed = await orch.resume("r-2", refund)
    assert_type(resumed, Outcome[int, Errs])
    granted = await orch.grant("refund:o-2", 10, actor="ann", workflow=refund)
    assert_type(granted, ResumedRuns[int, Errs])
    for outcome in granted:
        if isinstance(outcome, Completed):
            assert_type(outcome.result, int)
    rejected = await orch.reject("refund:o-1", "no", workflow=refund)
    assert_type(rejected, ResumedRuns[int, Errs])
    cancelled = await orch.cancel("refund:o-1", workflow=refund)
    assert_type(cancelled, ResumedRuns[int, Errs])
    untyped = await orch.grant("k", 1)
    assert_type(untyped, ResumedRuns[object, object])
    assert_type(await orch.resume("r-2"), Outcome[object, object])

    async def body(step: Step[PendingApproval], label: str) -> str:
        return label

    assert_type(
        await orch.resume("r-3", body),
        Outcome[str, PendingApproval | UnexpectedError | ApprovalMismatch],
    )
