"""Durable execution: workflows whose every step is checkpointed in SQLite or PostgreSQL.

This package grows in slices; today it holds the public value types and errors and the
private store the engine, worker and client are built on (`resultflow.durable._store`).
"""

from resultflow.durable._errors import (
    ChildFailed,
    DurableStoreError,
    EventNotSet,
    ExecutionCancelled,
    ExecutionClosed,
    ExecutionExists,
    ExecutionNotFound,
    ExecutionTerminated,
    ExecutionTimedOut,
    InvalidInput,
    InvalidState,
    NonDeterminism,
    SignalTimedOut,
    TaskClosed,
    TaskFailed,
    TaskHeartbeatTimedOut,
    TaskTimedOut,
    UnknownToken,
    UnknownWorkflow,
    WaitTimedOut,
)
from resultflow.durable._types import (
    CLOSED_STATUSES,
    ExecutionInfo,
    HistoryEvent,
    ParentRef,
    Status,
    WorkflowInfo,
)

__all__ = [
    "CLOSED_STATUSES",
    "ChildFailed",
    "DurableStoreError",
    "EventNotSet",
    "ExecutionCancelled",
    "ExecutionClosed",
    "ExecutionExists",
    "ExecutionInfo",
    "ExecutionNotFound",
    "ExecutionTerminated",
    "ExecutionTimedOut",
    "HistoryEvent",
    "InvalidInput",
    "InvalidState",
    "NonDeterminism",
    "ParentRef",
    "SignalTimedOut",
    "Status",
    "TaskClosed",
    "TaskFailed",
    "TaskHeartbeatTimedOut",
    "TaskTimedOut",
    "UnknownToken",
    "UnknownWorkflow",
    "WaitTimedOut",
    "WorkflowInfo",
]
