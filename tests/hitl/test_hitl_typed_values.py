"""Typed approvals at run time: `value_type=` checks the granted value; `workflow=` on
`resume` / `grant` / `reject` / `cancel` registers the workflow and resumes only its runs."""

from __future__ import annotations

import pytest

from resultflow import Err, Ok, Step, run, workflow
from resultflow.errors import ApprovalRejected, PendingApproval, UnexpectedError
from resultflow.hitl import (
    Approved,
    Completed,
    HITLOrchestrator,
    MemoryApprovalStore,
    MemoryStateStore,
    UnknownWorkflowError,
    approval_step,
)

Errors = PendingApproval | ApprovalRejected


async def test_value_type_checks_the_value_the_check_answers() -> None:
    store = MemoryApprovalStore()
    orch = HITLOrchestrator(store)

    async def amount(step: Step[Errors], key: str) -> int:
        value = await step(orch.approval(key, value_type=int), key=key)
        return value + 1

    for key, value in (("good", 41), ("bad", "41")):
        await store.create_pending(key)
        await store.grant(key, value)
    assert await run(amount, "good") == Ok(42)
    result = await run(amount, "bad")  # a string where an int was declared
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert "approval 'bad' was granted with a str, not a int" in result.error.message


async def test_value_type_float_accepts_an_int_and_checks_sync_checks() -> None:
    async def body(step: Step[Errors]) -> float:
        return await step(approval_step("k", lambda: Approved(3), value_type=float), key="k")

    orch = HITLOrchestrator(MemoryApprovalStore())
    assert await orch.execute(body, run_id="r") == Completed("r", 3)
    with pytest.raises(TypeError, match="value_type must be a class"):
        approval_step("k", lambda: Approved(1), value_type="int")  # type: ignore[call-overload]


async def test_resume_and_grant_with_a_workflow_register_it_and_take_only_its_runs() -> None:
    approvals, states = MemoryApprovalStore(), MemoryStateStore()
    before = HITLOrchestrator(approvals, states)

    def flows(orch: HITLOrchestrator) -> tuple[object, object]:
        @workflow(name="a")
        async def a(step: Step[Errors]) -> str:
            return "a:" + str(await step(orch.approval("shared"), key="shared"))

        @workflow(name="b")
        async def b(step: Step[Errors]) -> str:
            return "b:" + str(await step(orch.approval("shared"), key="shared"))

        return a, b

    a, b = flows(before)
    await before.execute(a, run_id="run-a")  # type: ignore[call-overload]
    await before.execute(b, run_id="run-b")  # type: ignore[call-overload]

    after = HITLOrchestrator(approvals, states)  # a restarted process: nothing registered
    a2, b2 = flows(after)
    with pytest.raises(UnknownWorkflowError, match="run 'run-b' is a run of workflow 'b'"):
        await after.resume("run-b", a2)  # type: ignore[call-overload]
    assert await after.grant("shared", 1, workflow=a2) == [Completed("run-a", "a:1")]  # type: ignore[call-overload]
    assert await after.paused_runs() == ["run-b"]  # b's run waits for its own resume
    assert await after.resume("run-b", b2) == Completed("run-b", "b:1")  # type: ignore[call-overload]


async def test_execute_refuses_what_is_not_callable() -> None:
    orch = HITLOrchestrator(MemoryApprovalStore())
    with pytest.raises(TypeError, match="execute needs a workflow or a body"):
        await orch.execute(Ok(1))  # type: ignore[call-overload]
