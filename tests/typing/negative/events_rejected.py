"""Event usage that mypy and pyright must reject (each marked line)."""

from __future__ import annotations

from typing import assert_never

from resultflow.events import (
    StepStarted,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowStarted,
    WorkflowSucceeded,
)


def missing_cases(event: WorkflowEvent) -> str:
    match event:
        case WorkflowStarted() | WorkflowSucceeded() | WorkflowFailed():
            return event.type
        case _:
            assert_never(event)  # expect-error


def events_are_frozen(event: StepStarted) -> None:
    event.step_id = "other"  # expect-error


def step_fields_only_on_step_events(event: WorkflowEvent) -> str | None:
    return event.step_id  # expect-error: step_id


def type_tag_is_a_literal() -> None:
    WorkflowStarted(workflow_id="w", ts=0.0, type="step_start")  # expect-error
