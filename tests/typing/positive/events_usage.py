"""Typed usage of the events: `match` over `WorkflowEvent` is exhaustive in both checkers.

Must pass mypy --strict and pyright strict with zero diagnostics.
"""

from __future__ import annotations

from typing import assert_never, assert_type

from resultflow.events import (
    ApprovalAwaited,
    ApprovalDenied,
    ApprovalGranted,
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    HookAfterStep,
    HookAfterStepError,
    HookBeforeStart,
    HookBeforeStartError,
    HookBeforeStepError,
    HookShouldRun,
    HookShouldRunError,
    ScopeEnded,
    ScopeStarted,
    StepAborted,
    StepCacheHit,
    StepCacheMiss,
    StepCompleted,
    StepFailed,
    StepRetriesExhausted,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    WorkflowCancelled,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowSkipped,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.result import Err, Ok


def describe(event: WorkflowEvent) -> str:
    match event:
        case WorkflowStarted(name=name):
            return f"start {name}"
        case WorkflowSucceeded(duration_s=duration, value=value):
            return f"ok {value!r} in {duration}s"
        case WorkflowFailed(error=error, duration_s=duration):
            return f"failed {error!r} in {duration}s"
        case WorkflowCancelled(reason=reason):
            return f"cancelled {reason}"
        case WorkflowSkipped(reason=reason):
            return f"skipped by {reason}"
        case StepStarted() | StepCacheHit() | StepCacheMiss() | StepAborted():
            return f"{event.type} {event.step_id} {event.name} {event.key} {event.parent_id}"
        case StepSucceeded(value=value, duration_s=duration):
            return f"step ok {value!r} {duration}"
        case StepFailed(error=error, duration_s=duration):
            return f"step failed {error!r} {duration}"
        case StepCompleted(key=key, result=result, meta=meta):
            assert_type(result, Ok[object] | Err[object])
            return f"complete {key} {result!r} {dict(meta)}"
        case StepRetrying(attempt=attempt, delay_s=delay, error=error):
            return f"retry {attempt} after {delay} ({error!r})"
        case StepRetriesExhausted(attempts=attempts):
            return f"gave up after {attempts}"
        case StepTimedOut(seconds=seconds):
            return f"timed out after {seconds}"
        case StepSkipped(name=name, reason=reason):
            return f"skipped {name}: {reason}"
        case HookShouldRun(result=result) | HookBeforeStart(result=result):
            return f"{event.type} -> {result!r} in {event.duration_s}"
        case HookAfterStep(key=key, result=result, duration_s=duration):
            return f"after {key} -> {result!r} in {duration}"
        case HookShouldRunError() | HookBeforeStartError() | HookBeforeStepError():
            return f"{event.type}: {event.error!r}"
        case HookAfterStepError(key=key, error=error):
            return f"after {key} raised {error!r}"
        case ScopeStarted(scope_id=scope_id, kind=kind) | ScopeEnded(scope_id=scope_id, kind=kind):
            return f"{event.type} {kind} {scope_id}"
        case CompensationStarted(name=name) | CompensationSucceeded(name=name):
            return f"{event.type} {name}"
        case CompensationFailed(name=name, error=error):
            return f"undo {name} failed {error!r}"
        case ApprovalAwaited(key=key) | ApprovalDenied(key=key) | ApprovalGranted(key=key):
            return f"{event.type} {key}"
        case _:
            assert_never(event)


def by_type_tag(event: WorkflowEvent) -> float | None:
    if isinstance(event, StepSucceeded):
        assert_type(event.duration_s, float)
        return event.duration_s
    if event.type == "workflow_error":
        assert_type(event, WorkflowFailed)
        return event.duration_s
    return None
