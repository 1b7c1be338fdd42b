"""HITLOrchestrator: execute, pause, grant with auto-resume, reject, poll, second approval."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import ClassVar

import pytest

from resultflow import Err, Ok, Step, workflow
from resultflow.errors import ApprovalRejected, PendingApproval, TaggedError
from resultflow.events import WorkflowEvent
from resultflow.hitl import (
    ApprovalDecisionError,
    ApprovalNotFound,
    Approved,
    Completed,
    Failed,
    HITLOrchestrator,
    KVApprovalStore,
    KVStateStore,
    MemoryApprovalStore,
    Paused,
    Pending,
    UnknownRunError,
    UnknownWorkflowError,
    approval_step,
)
from resultflow.persistence._kv import MemoryKV
from resultflow.saga import SagaStep, saga_workflow
from resultflow.testing._clock import TestClock

Errors = PendingApproval | ApprovalRejected


class OutOfStock(TaggedError):
    tag: ClassVar[str] = "hitl_orch.OutOfStock"
    sku: str


def make_orchestrator(clock: TestClock | None = None, **kw: object) -> HITLOrchestrator:
    clock = clock or TestClock()
    return HITLOrchestrator(MemoryApprovalStore(clock=clock), clock=clock, **kw)  # type: ignore[arg-type]


class Calls(Counter[str]):
    def hit(self, name: str) -> None:
        self[name] += 1


def two_approval_workflow(orch: HITLOrchestrator, calls: Calls) -> object:
    @workflow(name="publish")
    async def publish(step: Step[Errors], doc: str) -> str:
        async def draft() -> Ok[str]:
            calls.hit("draft")
            return Ok(f"{doc}-draft")

        async def edit(text: str) -> Ok[str]:
            calls.hit("edit")
            return Ok(f"{text}-edited")

        async def release(text: str) -> Ok[str]:
            calls.hit("release")
            return Ok(f"{text}-released")

        text = await step(draft, key="draft")
        editor = await step(orch.approval(f"edit:{doc}", "editor review"), key=f"edit:{doc}")
        text = await step(lambda: edit(text), key="edit")
        legal = await step(orch.approval(f"legal:{doc}"), key=f"legal:{doc}")
        final = await step(lambda: release(text), key="release")
        return f"{final} ({editor}, {legal})"

    return publish


async def test_execute_completes_a_run_without_approvals() -> None:
    orch = make_orchestrator()

    async def body(step: Step[Errors], n: int) -> int:
        return await step(Ok(n + 1))

    outcome = await orch.execute(body, 1, run_id="r1")
    assert outcome == Completed("r1", 2)
    assert await orch.paused_runs() == []


async def test_pause_then_grant_auto_resumes_and_second_approval_keeps_the_first() -> None:
    clock = TestClock()
    orch = make_orchestrator(clock, default_expiry=3600)
    calls = Calls()
    publish = two_approval_workflow(orch, calls)

    first = await orch.execute(publish, "doc1", run_id="run-1")  # type: ignore[call-overload]
    assert first == Paused("run-1", ["edit:doc1"])
    record = await orch.approvals.get("edit:doc1")
    assert record is not None and record.is_pending
    assert record.reason == "editor review"
    assert record.expires_at == clock.now() + 3600
    assert record.meta == {"run_id": "run-1", "workflow": "publish"}
    assert await orch.paused_runs() == ["run-1"]
    assert await orch.paused_runs("edit:doc1") == ["run-1"]
    assert await orch.paused_runs("nope") == []

    outcomes = await orch.grant("edit:doc1", "ann", actor="ann")
    assert outcomes == [Paused("run-1", ["legal:doc1"])]
    assert calls == {"draft": 1, "edit": 1}

    outcomes = await orch.grant("legal:doc1", "lex", actor="lex")
    assert outcomes == [Completed("run-1", "doc1-draft-edited-released (ann, lex)")]
    assert calls == {"draft": 1, "edit": 1, "release": 1}  # nothing already done ran again
    assert await orch.paused_runs() == []
    with pytest.raises(UnknownRunError):
        await orch.resume("run-1")


async def test_grant_without_resume_then_resume_by_run_id() -> None:
    orch = make_orchestrator()
    calls = Calls()
    publish = two_approval_workflow(orch, calls)
    await orch.execute(publish, "d", run_id="r")  # type: ignore[call-overload]
    assert await orch.grant("edit:d", "ann", resume=False) == []
    assert await orch.paused_runs() == ["r"]
    assert await orch.resume("r") == Paused("r", ["legal:d"])


async def test_reject_ends_the_waiting_runs_with_approval_rejected() -> None:
    orch = make_orchestrator()
    calls = Calls()
    publish = two_approval_workflow(orch, calls)
    await orch.execute(publish, "a", run_id="ra")  # type: ignore[call-overload]
    outcomes = await orch.reject("edit:a", "off topic", actor="ed")
    assert outcomes == [Failed("ra", ApprovalRejected(key="edit:a", reason="off topic"))]
    assert await orch.paused_runs() == []
    assert calls == {"draft": 1}


async def test_cancel_and_decisions_on_unknown_or_decided_keys() -> None:
    orch = make_orchestrator()
    publish = two_approval_workflow(orch, Calls())
    await orch.execute(publish, "c", run_id="rc")  # type: ignore[call-overload]
    assert await orch.cancel("edit:c") == [
        Failed("rc", ApprovalRejected(key="edit:c", reason="cancelled"))
    ]
    with pytest.raises(ApprovalDecisionError, match="edit:c") as decided:
        await orch.grant("edit:c", 1)
    assert decided.value.error.tag == "ApprovalAlreadyDecided"
    with pytest.raises(ApprovalDecisionError) as unknown:
        await orch.reject("ghost", "x")
    assert unknown.value.error == ApprovalNotFound("ghost")


async def test_several_runs_waiting_on_one_key_all_resume() -> None:
    orch = make_orchestrator()

    async def body(step: Step[Errors], n: int) -> int:
        factor = await step(orch.approval("shared"), key="shared")
        assert isinstance(factor, int)
        return n * factor

    assert await orch.execute(body, 2, run_id="a") == Paused("a", ["shared"])
    assert await orch.execute(body, 3, run_id="b") == Paused("b", ["shared"])
    outcomes = await orch.grant("shared", 10)
    assert sorted(outcomes, key=lambda o: o.run_id) == [Completed("a", 20), Completed("b", 30)]


async def test_a_key_decided_before_the_run_pauses_resumes_at_once() -> None:
    orch = make_orchestrator()
    await orch.approvals.create_pending("pre")
    await orch.approvals.grant("pre", "ok")

    async def body(step: Step[Errors]) -> object:
        # a check that ignores the store: the injected decision still gets through
        return await step(approval_step("pre", lambda: Pending()), key="pre")

    assert await orch.execute(body, run_id="r") == Completed("r", "ok")


async def test_a_check_that_ignores_decisions_under_another_key_does_not_loop() -> None:
    orch = make_orchestrator()
    await orch.approvals.create_pending("k")
    await orch.approvals.grant("k", 1)

    async def body(step: Step[Errors]) -> object:
        return await step(approval_step("k", lambda: Pending()), key="different-step-key")

    assert await orch.execute(body, run_id="r") == Paused("r", ["k"])


async def test_expired_approval_resumes_as_rejected() -> None:
    clock = TestClock()
    orch = make_orchestrator(clock, default_expiry=60)
    publish = two_approval_workflow(orch, Calls())
    await orch.execute(publish, "e", run_id="re")  # type: ignore[call-overload]
    clock.advance(61)
    assert await orch.resume("re") == Failed("re", ApprovalRejected("edit:e", "expired"))


async def test_poll_returns_the_decision_or_the_pending_record_on_timeout() -> None:
    clock = TestClock()
    orch = make_orchestrator(clock)
    assert await orch.poll("missing") is None
    await orch.approvals.create_pending("k")

    timed_out = await orch.poll("k", interval=2.0, timeout=5.0)
    assert timed_out is not None and timed_out.is_pending
    assert clock.monotonic() == 5.0

    async def approve_later() -> None:
        await clock.sleep(7.0)
        await orch.approvals.grant("k", "yes", actor="ann")

    approver = asyncio.create_task(approve_later())
    decided = await orch.poll("k", interval=3.0)
    await approver
    assert decided is not None and decided.status == Approved("yes") and decided.value == "yes"
    assert clock.monotonic() == 14.0  # polled at 5, 8, 11, decided at 12, seen at 14
    with pytest.raises(ValueError, match="interval"):
        await orch.poll("k", interval=0)


async def test_unregistered_workflow_after_restart_and_register_by_name() -> None:
    kv = MemoryKV()
    approvals = KVApprovalStore(kv)
    states = KVStateStore(kv)
    calls = Calls()

    first = HITLOrchestrator(approvals, states)
    publish = two_approval_workflow(first, calls)
    await first.execute(publish, "x", run_id="rx")  # type: ignore[call-overload]

    restarted = HITLOrchestrator(approvals, states)  # a new process: empty registry
    await approvals.grant("edit:x", "ann")
    with pytest.raises(UnknownWorkflowError, match="publish"):
        await restarted.resume("rx")
    assert restarted.register(two_approval_workflow(restarted, calls)) == "publish"  # type: ignore[arg-type]
    assert await restarted.resume("rx") == Paused("rx", ["legal:x"])
    assert calls == {"draft": 1, "edit": 1}


async def test_events_reach_the_orchestrator_and_workflow_listeners() -> None:
    seen: list[str] = []
    own: list[str] = []

    async def record(event: WorkflowEvent, ctx: object) -> None:
        seen.append(event.type)

    orch = make_orchestrator(on_event=record)

    @workflow(on_event=lambda event, ctx: own.append(event.type))
    async def body(step: Step[Errors]) -> object:
        return await step(orch.approval("k"), key="k")

    assert await orch.execute(body, run_id="r") == Paused("r", ["k"])
    assert "approval_pending" in seen
    assert "approval_pending" in own


async def test_failed_runs_are_reported_and_forgotten() -> None:
    orch = make_orchestrator()

    async def body(step: Step[OutOfStock]) -> None:
        await step(Err(OutOfStock("A")))

    assert await orch.execute(body, run_id="f") == Failed("f", OutOfStock("A"))
    assert await orch.paused_runs() == []


async def test_saga_workflow_pauses_without_rollback_and_rolls_back_on_rejection() -> None:
    orch = make_orchestrator()
    undone: list[str] = []
    calls = Calls()

    @saga_workflow(name="checkout")
    async def checkout(saga: SagaStep[Errors | OutOfStock], order: str) -> str:
        def reserve() -> Ok[str]:
            calls.hit("reserve")
            return Ok(f"hold:{order}")

        hold = await saga.step(reserve, key="reserve", compensate=undone.append)
        await saga.step(orch.approval(f"approve:{order}"), key=f"approve:{order}")
        return hold

    assert await orch.execute(checkout, "o1", run_id="s1") == Paused("s1", ["approve:o1"])
    assert await orch.execute(checkout, "o2", run_id="s2") == Paused("s2", ["approve:o2"])
    assert undone == []  # a pause is not a failure
    assert await orch.grant("approve:o1", True) == [Completed("s1", "hold:o1")]
    assert await orch.reject("approve:o2", "fraud") == [
        Failed("s2", ApprovalRejected("approve:o2", "fraud"))
    ]
    assert undone == ["hold:o2"]  # the cached step's compensation ran on rejection
    assert calls == {"reserve": 2}


def test_default_expiry_must_be_positive() -> None:
    with pytest.raises(ValueError, match="default_expiry"):
        HITLOrchestrator(MemoryApprovalStore(), default_expiry=0)


async def test_concurrent_resumes_of_one_run_execute_it_once() -> None:
    orch = make_orchestrator()
    calls = Calls()

    async def body(step: Step[Errors]) -> str:
        await step(orch.approval("k"), key="k")

        async def finish() -> Ok[str]:
            calls.hit("finish")
            await asyncio.sleep(0)
            return Ok("done")

        return await step(finish, key="finish")

    await orch.execute(body, run_id="r")
    await orch.grant("k", True, resume=False)
    results = await asyncio.gather(orch.resume("r"), orch.resume("r"), return_exceptions=True)
    assert results[0] == Completed("r", "done")
    assert isinstance(results[1], UnknownRunError)
    assert calls == {"finish": 1}
    assert orch._locks == {}  # per-run locks are dropped once unused


async def test_execute_refuses_the_id_of_a_paused_run() -> None:
    orch = make_orchestrator()
    publish = two_approval_workflow(orch, Calls())
    await orch.execute(publish, "p", run_id="dup")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="paused already"):
        await orch.execute(publish, "p", run_id="dup")  # type: ignore[call-overload]
    assert await orch.paused_runs() == ["dup"]
