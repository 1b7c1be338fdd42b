"""Durable execution: workflows whose every step is checkpointed in SQLite or PostgreSQL.

`Engine` registers workflows and owns the store (SQLite by default, PostgreSQL to scale
out); `engine.worker()` claims and replays executions under leases; `engine.client` (or
`Client(url)` in a process that defines no workflows) starts, lists, inspects, signals
and controls them. Every expected failure is a Result carrying one of the errors below.
"""

from resultflow.durable._client import Client, ExecutionHandle
from resultflow.durable._engine import Engine
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
from resultflow.durable._step import DurableStep
from resultflow.durable._types import (
    CLOSED_STATUSES,
    ExecutionInfo,
    HistoryEvent,
    ParentRef,
    Status,
    WorkflowInfo,
)
from resultflow.durable._worker import Worker
from resultflow.durable._workflow import DurableWorkflow

__all__ = [
    "CLOSED_STATUSES",
    "ChildFailed",
    "Client",
    "DurableStep",
    "DurableStoreError",
    "DurableWorkflow",
    "Engine",
    "EventNotSet",
    "ExecutionCancelled",
    "ExecutionClosed",
    "ExecutionExists",
    "ExecutionHandle",
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
    "Worker",
    "WorkflowInfo",
]
