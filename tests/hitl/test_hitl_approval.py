"""Approval steps: every status, events, the collector, state helpers, resume without looping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from resultflow import Err, MemoryCache, Ok, Step, StepCollector, run
from resultflow.cache import CacheEntry
from resultflow.errors import ApprovalRejected, PendingApproval, UnexpectedError
from resultflow.events import (
    ApprovalAwaited,
    ApprovalDenied,
    ApprovalGranted,
    WorkflowEvent,
)
from resultflow.hitl import (
    ApprovalStatus,
    Approved,
    HITLCollector,
    Pending,
    Rejected,
    approval_step,
    clear_step,
    has_pending_approval,
    inject_approval,
    inject_rejection,
    is_pending_approval,
    pending_approvals,
)

Errors = PendingApproval | ApprovalRejected


class Recorder:
    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []

    def __call__(self, event: WorkflowEvent, ctx: object) -> None:
        self.events.append(event)

    def approval_events(self) -> list[WorkflowEvent]:
        kinds = {"approval_pending", "approval_granted", "approval_rejected"}
        return [e for e in self.events if e.type in kinds]


async def refund_body(step: Step[Errors], status: ApprovalStatus[int]) -> int:
    async def check() -> ApprovalStatus[int]:
        return status

    amount = await step(approval_step("refund:1", check, "manager sign-off"), key="refund:1")
    return amount * 2


async def test_approved_returns_the_value_and_emits_granted() -> None:
    rec = Recorder()
    result = await run(refund_body, Approved(50), on_event=rec, workflow_id="w", context="c")
    assert result == Ok(100)
    [event] = rec.approval_events()
    assert isinstance(event, ApprovalGranted)
    assert (event.key, event.value, event.workflow_id, event.context) == ("refund:1", 50, "w", "c")


async def test_pending_exits_with_pending_approval_and_default_reason() -> None:
    rec = Recorder()
    result = await run(refund_body, Pending(), on_event=rec)
    assert result == Err(PendingApproval(key="refund:1", reason="manager sign-off"))
    assert isinstance(result, Err)
    assert is_pending_approval(result.error)
    [event] = rec.approval_events()
    assert isinstance(event, ApprovalAwaited)
    assert (event.key, event.reason) == ("refund:1", "manager sign-off")


async def test_pending_with_its_own_reason_overrides_the_default() -> None:
    result = await run(refund_body, Pending("waiting for finance"))
    assert result == Err(PendingApproval(key="refund:1", reason="waiting for finance"))


async def test_rejected_exits_with_approval_rejected_and_emits_rejected() -> None:
    rec = Recorder()
    result = await run(refund_body, Rejected("too large"), on_event=rec)
    assert result == Err(ApprovalRejected(key="refund:1", reason="too large"))
    assert isinstance(result, Err)
    assert not is_pending_approval(result.error)
    [event] = rec.approval_events()
    assert isinstance(event, ApprovalDenied)
    assert (event.key, event.reason) == ("refund:1", "too large")


async def test_sync_check_and_no_listener() -> None:
    async def body(step: Step[Errors]) -> str:
        return await step(approval_step("k", lambda: Approved("yes")), key="k")

    assert await run(body) == Ok("yes")


async def test_check_returning_garbage_is_an_unexpected_error() -> None:
    async def body(step: Step[Errors]) -> object:
        bad: object = approval_step("k", lambda: "approved")  # type: ignore[arg-type,return-value]
        return await step(bad, key="k")  # type: ignore[call-overload]

    result = await run(body)
    assert isinstance(result, Err)
    assert isinstance(result.error, UnexpectedError)
    assert "not Pending(), Approved(value) or Rejected(reason)" in result.error.message


async def test_check_that_raises_is_an_unexpected_error() -> None:
    async def broken() -> ApprovalStatus[int]:
        raise ConnectionError("approvals api down")

    async def body(step: Step[Errors]) -> int:
        return await step(approval_step("k", broken), key="k")

    result = await run(body)
    assert isinstance(result, Err)
    assert isinstance(result.error, UnexpectedError)
    assert result.error.exception_type == "ConnectionError"


def test_approval_step_rejects_bad_arguments() -> None:
    import pytest

    with pytest.raises(ValueError, match="non-empty str"):
        approval_step("", lambda: Pending())
    with pytest.raises(TypeError, match="zero-argument callable"):
        approval_step("k", "nope")  # type: ignore[call-overload]


# -- collector and helpers --------------------------------------------------------------
class Approvals:
    """A tiny external approval system the check asks."""

    def __init__(self) -> None:
        self.decisions: dict[str, ApprovalStatus[str]] = {}
        self.asked = 0

    def check(self, key: str) -> Callable[[], Awaitable[ApprovalStatus[str]]]:
        async def ask() -> ApprovalStatus[str]:
            self.asked += 1
            return self.decisions.get(key, Pending())

        return ask


async def test_collector_keeps_pending_in_its_state_and_a_resumed_run_asks_again() -> None:
    system = Approvals()
    calls: list[str] = []

    async def body(step: Step[Errors]) -> str:
        async def prepare() -> Ok[str]:
            calls.append("prepare")
            return Ok("draft")

        draft = await step(prepare, key="prepare")
        ask = system.check("publish")
        editor = await step(approval_step("publish", ask), key="publish")
        calls.append("publish")
        return f"{draft} by {editor}"

    first = HITLCollector()
    assert await run(body, on_event=first) == Err(PendingApproval(key="publish"))
    assert first.pending() == ["publish"]
    assert list(first.state()) == ["prepare", "publish"]  # pending kept, as awaitly does
    assert has_pending_approval(first.state(), "publish")
    assert pending_approvals(first.state()) == ["publish"]
    assert first.pending_reasons() == {"publish": None}

    # still pending: the resumed run asks again instead of replaying a cached Pending
    second = HITLCollector(first.state())
    assert await run(body, resume_state=first.state(), on_event=second) == Err(
        PendingApproval(key="publish")
    )
    assert system.asked == 2
    assert second.pending() == ["publish"]
    assert pending_approvals(second.state()) == ["publish"]

    system.decisions["publish"] = Approved("ann")
    third = HITLCollector(second.state())
    result = await run(body, resume_state=second.state(), on_event=third)
    assert result == Ok("draft by ann")
    assert calls == ["prepare", "publish"]  # prepare ran once across three runs
    assert third.pending() == []
    assert set(third.state()) == {"prepare", "publish"}
    assert pending_approvals(third.state()) == []


async def test_plain_collector_keeps_pending_entries_and_helpers_read_them() -> None:
    collector = StepCollector()
    await run(refund_body, Pending(), on_event=collector)
    state = collector.state()
    assert has_pending_approval(state, "refund:1")
    assert not has_pending_approval(state, "other")
    assert pending_approvals(state) == ["refund:1"]

    approved = inject_approval(state, key="refund:1", value=7)
    assert not has_pending_approval(approved, "refund:1")
    assert pending_approvals(approved) == []
    assert state["refund:1"].result == Err(PendingApproval("refund:1", "manager sign-off"))
    # the injected decision is taken without asking the (still pending) check
    assert await run(refund_body, Pending(), resume_state=approved) == Ok(14)

    rejected = inject_rejection(state, key="refund:1", reason="no")
    assert await run(refund_body, Approved(1), resume_state=rejected) == Err(
        ApprovalRejected("refund:1", "no")
    )

    cleared = clear_step(state, "refund:1")
    assert "refund:1" not in cleared
    assert await run(refund_body, Approved(3), resume_state=cleared) == Ok(6)


async def test_collector_initial_state_keeps_pending_entries_and_tracks_decisions() -> None:
    initial = {
        "a": CacheEntry(Ok(1)),
        "b": CacheEntry(Err(PendingApproval("b"))),
    }
    collector = HITLCollector(initial)
    assert list(collector.state()) == ["a", "b"]
    assert pending_approvals(collector.state()) == ["b"]
    rec = Recorder()
    await run(refund_body, Pending("x"), on_event=rec)
    for event in rec.events:
        collector(event, None)
    assert collector.pending() == ["refund:1"]
    assert collector.pending_reasons() == {"refund:1": "x"}
    for event in (await _events_of(Approved(2))).events:
        collector(event, None)
    assert collector.pending() == []
    assert collector.state()["refund:1"].result == Ok(2)


async def test_unkeyed_approval_step_is_still_reported_pending() -> None:
    async def body(step: Step[Errors]) -> int:
        return await step(approval_step("loose", lambda: Pending()))

    collector = HITLCollector()
    assert await run(body, on_event=collector, cache=MemoryCache()) == Err(PendingApproval("loose"))
    assert collector.pending() == ["loose"]
    assert collector.state() == {}


async def _events_of(status: ApprovalStatus[int]) -> Recorder:
    rec = Recorder()
    await run(refund_body, status, on_event=rec)
    return rec
