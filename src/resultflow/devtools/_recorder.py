"""`RunRecorder`: folds the events of one run into a `RunRecord`.

The recorder keys nodes by `step_id` / `scope_id`, so the events of concurrent steps
may arrive interleaved. Start and end times come from the events' `ts`; durations from
their `duration_s` when they carry one. Events of other kinds (hooks, approvals) do not
change the record.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TypeVar

from resultflow.devtools._describe import error_summary, error_tag
from resultflow.devtools._records import Node, RunRecord, ScopeRecord, StepRecord
from resultflow.events import (
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    HookBeforeStepError,
    ScopeEnded,
    ScopeStarted,
    StepAborted,
    StepCacheHit,
    StepEventBase,
    StepFailed,
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

__all__ = ["RunRecorder", "record_run"]

_N = TypeVar("_N", StepRecord, ScopeRecord)


def record_run(events: Iterable[WorkflowEvent], *, name: str | None = None) -> RunRecord:
    """Build the `RunRecord` of one run from its events (in the order they were emitted).

    `name` is used when the run's `workflow_start` carries none. Raises ValueError when
    `events` is empty.
    """
    recorder: RunRecorder | None = None
    for event in events:
        if recorder is None:
            recorder = RunRecorder(event, name=name)
        recorder.add(event)
    if recorder is None:
        raise ValueError("record_run needs at least one event")
    return recorder.record()


class RunRecorder:
    """Accumulates the events of one run; `record()` returns the run so far."""

    def __init__(
        self, first: WorkflowEvent, *, name: str | None = None, name_wins: bool = False
    ) -> None:
        """Start a run at `first` (normally its `workflow_start`; any event will do).

        `name` names the run when its `workflow_start` carries no name, or always with
        `name_wins=True` (a name the user gave the recorder explicitly).
        """
        self._name_wins = name_wins and name is not None
        given = first.name if isinstance(first, WorkflowStarted) else None
        run_name = name if self._name_wins or not given else given
        self._run: RunRecord = RunRecord(
            workflow_id=first.workflow_id, name=run_name, started_at=first.ts
        )
        self._nodes: dict[str, Node] = {}
        self._compensations: dict[str, str] = {}

    @property
    def workflow_id(self) -> str:
        """The id of the run being recorded."""
        return self._run.workflow_id

    @property
    def finished(self) -> bool:
        """True once the run's final event (success, error, cancelled, skipped) arrived."""
        return self._run.status != "running"

    def record(self) -> RunRecord:
        """The run as recorded so far."""
        return replace(self._run, nodes=tuple(self._nodes.values()))

    def add(self, event: WorkflowEvent) -> None:
        """Fold one event into the record."""
        if isinstance(event, StepEventBase):
            self._add_step_event(event)
        elif isinstance(event, ScopeStarted | ScopeEnded):
            self._add_scope_event(event)
        elif isinstance(event, CompensationStarted | CompensationSucceeded | CompensationFailed):
            self._add_compensation_event(event)
        elif isinstance(event, HookBeforeStepError):
            step = self._step(event.step_id, event.ts)
            self._nodes[event.step_id] = replace(
                step,
                status="error",
                end_ts=event.ts,
                duration_s=event.duration_s,
                error=f"on_before_step raised {error_summary(event.error)}",
                error_tag=error_tag(event.error),
            )
        else:
            self._add_run_event(event)

    # -- runs ---------------------------------------------------------------------------
    def _add_run_event(self, event: WorkflowEvent) -> None:
        run = self._run
        match event:
            case WorkflowStarted():
                named = run.name if self._name_wins else event.name or run.name
                self._run = replace(run, started_at=event.ts, name=named)
            case WorkflowSucceeded():
                self._run = replace(
                    run, status="success", ended_at=event.ts, duration_s=event.duration_s
                )
            case WorkflowFailed():
                self._run = replace(
                    run,
                    status="error",
                    ended_at=event.ts,
                    duration_s=event.duration_s,
                    error=error_summary(event.error),
                    error_tag=error_tag(event.error),
                )
            case WorkflowCancelled():
                self._run = replace(
                    run,
                    status="cancelled",
                    ended_at=event.ts,
                    duration_s=event.duration_s,
                    error=event.reason,
                )
            case WorkflowSkipped():
                self._run = replace(
                    run, status="skipped", ended_at=event.ts, duration_s=0.0, error=event.reason
                )
            case _:
                pass

    # -- steps --------------------------------------------------------------------------
    def _step(self, step_id: str, ts: float) -> StepRecord:
        node = self._nodes.get(step_id)
        if isinstance(node, StepRecord):
            return node
        step = StepRecord(step_id=step_id, start_ts=ts)
        self._nodes[step_id] = step
        return step

    def _add_step_event(self, event: StepEventBase) -> None:
        step = self._step(event.step_id, event.ts)
        step = replace(
            step,
            name=step.name or event.name,
            key=step.key or event.key,
            parent_id=step.parent_id or event.parent_id,
        )
        self._nodes[event.step_id] = _apply_step_event(step, event)

    # -- scopes -------------------------------------------------------------------------
    def _add_scope_event(self, event: ScopeStarted | ScopeEnded) -> None:
        node = self._nodes.get(event.scope_id)
        scope = (
            node
            if isinstance(node, ScopeRecord)
            else ScopeRecord(scope_id=event.scope_id, kind=event.kind, start_ts=event.ts)
        )
        scope = replace(
            scope,
            name=scope.name or event.name,
            parent_id=scope.parent_id or event.parent_id,
        )
        if isinstance(event, ScopeEnded):
            scope = _finish(scope, event.ts, event.duration_s)
            scope = replace(scope, status="success" if event.ok else "error")
        self._nodes[event.scope_id] = scope

    # -- compensations ------------------------------------------------------------------
    def _add_compensation_event(
        self, event: CompensationStarted | CompensationSucceeded | CompensationFailed
    ) -> None:
        # Compensations may lack a step id; the latest open one of the same name matches.
        node_id = self._compensations.get(event.name)
        if node_id is None or isinstance(event, CompensationStarted):
            node_id = f"compensation-{len(self._nodes) + 1}"
            self._compensations[event.name] = node_id
            parent = self._nodes.get(event.step_id) if event.step_id else None
            self._nodes[node_id] = StepRecord(
                step_id=node_id,
                name=event.name,
                parent_id=parent.parent_id if parent is not None else None,
                start_ts=event.ts,
                compensation=True,
            )
        step = self._nodes[node_id]
        assert isinstance(step, StepRecord)
        if isinstance(event, CompensationSucceeded):
            step = replace(_finish(step, event.ts, event.duration_s), status="success")
        elif isinstance(event, CompensationFailed):
            step = replace(
                _finish(step, event.ts, event.duration_s),
                status="error",
                error=error_summary(event.error),
                error_tag=error_tag(event.error),
            )
        self._nodes[node_id] = step


def _apply_step_event(step: StepRecord, event: StepEventBase) -> StepRecord:
    match event:
        case StepSucceeded():
            return replace(_finish(step, event.ts, event.duration_s), status="success")
        case StepFailed():
            return replace(
                _finish(step, event.ts, event.duration_s),
                status="error",
                error=error_summary(event.error),
                error_tag=error_tag(event.error),
            )
        case StepCacheHit():
            return replace(
                _finish(step, event.ts, 0.0),
                status="cached" if step.status == "running" else step.status,
                cache_hit=True,
            )
        case StepStarted():
            # A cache miss may come first; the step starts when it starts executing.
            return replace(step, start_ts=event.ts)
        case StepRetrying():
            return replace(step, retries=step.retries + 1)
        case StepTimedOut():
            return replace(step, timed_out=True)
        case StepSkipped():
            return replace(_finish(step, event.ts, 0.0), status="skipped", reason=event.reason)
        case StepAborted():
            return replace(
                _finish(step, event.ts, event.ts - step.start_ts),
                status="aborted",
                reason=event.reason,
            )
        case _:
            # cache miss, step_complete, retries exhausted: nothing to add.
            return step


def _finish(node: _N, ts: float, duration_s: float) -> _N:
    """Close a node at `ts` with the duration its event measured."""
    return replace(node, start_ts=min(node.start_ts, ts), end_ts=ts, duration_s=duration_s)
