"""Usage of resultflow.testing that both type checkers must reject (never run)."""

from __future__ import annotations

from resultflow import Err, Ok, Step
from resultflow.errors import TaggedError
from resultflow.testing import MockFn, WorkflowHarness, mock_fn


class NotFound(TaggedError):
    id: str


async def body(step: Step[NotFound], order_id: str) -> int:
    return 1


async def usage() -> None:
    harness = WorkflowHarness()
    await harness.run(body, 42)  # expect-error
    await harness.run(body)  # expect-error
    harness.script([1, 2])  # expect-error
    harness.script_step("x", "not an outcome")  # expect-error
    narrow = mock_fn(Ok(1))
    narrow.returns_once(Err(NotFound("1")))  # expect-error
    typed = MockFn[Ok[int] | Err[NotFound]]()
    typed.returns(Ok("text"))  # expect-error
    WorkflowHarness(clock=object())  # expect-error
    blank: MockFn[Ok[int]] = mock_fn()
    blank.returns(Ok("text"))  # expect-error
