"""Type-checked usage of resultflow.testing: harness, outcomes, mocks, snapshots (never run)."""

from __future__ import annotations

from typing import assert_type

from resultflow import Err, Ok, Step, workflow
from resultflow.errors import TaggedError, UnexpectedError
from resultflow.result import Result
from resultflow.testing import (
    AssertionReport,
    AsyncMockFn,
    Call,
    Invocation,
    MockFn,
    ScriptedOutcome,
    Snapshot,
    SnapshotDiff,
    TestClock,
    WorkflowHarness,
    compare_snapshots,
    delay_outcome,
    err_outcome,
    mock_fn,
    ok_outcome,
    raise_outcome,
    real_outcome,
    snapshot,
)


class NotFound(TaggedError):
    id: str


class Declined(TaggedError):
    reason: str


class Mapped(TaggedError):
    kind: str


async def checkout(step: Step[NotFound | Declined], order_id: str, cents: int) -> float:
    return cents / 100


@workflow
async def greet(step: Step[NotFound], who: str) -> str:
    return who


async def usage() -> None:
    harness = WorkflowHarness(TestClock(autojump=False), strict=True)
    assert_type(harness.clock, TestClock)
    harness.script([ok_outcome(1), err_outcome(Declined("x")), Ok(2), Err("e")])
    harness.script_step("charge", raise_outcome(ValueError("x")), times=2)
    harness.script_step("sleep", real_outcome()).script_step("n", delay_outcome(1.5, Ok(1)))

    result = await harness.run(checkout, "o1", 1250, workflow_id="w")
    assert_type(result, Ok[float] | Err[NotFound | Declined | UnexpectedError])
    strict = await harness.run(checkout, "o1", 5, catch_unexpected=lambda e: Mapped(str(e)))
    assert_type(strict, Ok[float] | Err[NotFound | Declined | Mapped])
    greeted = await harness.run_workflow(greet, "ann")
    assert_type(greeted, Ok[str] | Err[NotFound | UnexpectedError])

    invocations = harness.invocations("charge")
    assert_type(invocations, list[Invocation])
    assert_type(invocations[0].result, Ok[object] | Err[object] | None)
    report = harness.assert_steps(["a", "b"])
    assert_type(report, AssertionReport)
    assert_type(harness.assert_step_called("a", times=1).passed, bool)
    assert_type(harness.assert_step_not_called("a").message, str)
    assert_type(delay_outcome(1, ok_outcome(None)), ScriptedOutcome)

    taken = snapshot(harness.invocations(), result)
    assert_type(compare_snapshots(taken, Snapshot.from_json(taken.to_json())), SnapshotDiff)


async def mocks() -> None:
    sync = mock_fn(Ok(1))
    assert_type(sync, MockFn[Ok[int]])
    assert_type(sync("x", y=2), Ok[int])

    fetch: AsyncMockFn[Result[str, NotFound]] = mock_fn(Ok("a"), is_async=True)
    fetch.returns_once(Err(NotFound("1"))).raises_once(OSError("disk"))
    assert_type(await fetch(1), Ok[str] | Err[NotFound])

    blank: MockFn[Result[int, NotFound]] = mock_fn(name="blank")
    assert_type(blank.returns(Ok(1)), MockFn[Result[int, NotFound]])
    pending: AsyncMockFn[Ok[str]] = mock_fn(is_async=True)
    assert_type(await pending.returns_once(Ok("x"))(), Ok[str])

    lookup = MockFn[Result[int, NotFound]](name="lookup").returns(Ok(1))
    assert_type(lookup(), Ok[int] | Err[NotFound])
    assert_type(lookup.calls(), list[Call])
    assert_type(lookup.call_count(), int)
