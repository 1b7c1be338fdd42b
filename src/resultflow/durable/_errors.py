"""The durable engine's error values (TaggedErrors) and the exceptions it raises.

Error values are what the client's Results and an execution's own Result carry; every
expected failure (an unknown id, a closed execution, a lost signal wait) is one of them.
Exceptions are raised only for what cannot be an expected outcome: the store itself
failing (`DurableStoreError`) or a programming mistake (`ValueError`, `TypeError`).
"""

from __future__ import annotations

from resultflow.errors import StoreError, TaggedError

__all__ = [
    "ChildFailed",
    "DurableStoreError",
    "EventNotSet",
    "ExecutionCancelled",
    "ExecutionClosed",
    "ExecutionExists",
    "ExecutionNotFound",
    "ExecutionTerminated",
    "ExecutionTimedOut",
    "InvalidInput",
    "InvalidState",
    "NonDeterminism",
    "SignalTimedOut",
    "TaskClosed",
    "TaskFailed",
    "TaskHeartbeatTimedOut",
    "TaskTimedOut",
    "UnknownToken",
    "UnknownWorkflow",
    "WaitTimedOut",
]


class DurableStoreError(StoreError):
    """The durable store failed: unreachable, misconfigured, or its schema is too new.

    `backend` names the dialect (`"sqlite"` or `"postgres"`). Raised, not returned:
    callers cannot do anything useful with it step by step, and it must not be mistaken
    for an execution's outcome. A `StoreError`, so `except StoreError` catches a durable
    store that is down like any other store.
    """

    def __init__(self, message: str, *, backend: str) -> None:
        super().__init__(backend, message)


class ExecutionExists(TaggedError):
    """`start` with `on_conflict="fail"` met an execution with the same id."""

    execution_id: str


class UnknownWorkflow(TaggedError):
    """No engine registered a workflow of this name and version."""

    name: str
    version: str


class InvalidInput(TaggedError):
    """An argument or payload the codec cannot store; nothing was stored."""

    message: str


class ExecutionNotFound(TaggedError):
    """No execution has this id."""

    execution_id: str


class ExecutionClosed(TaggedError):
    """The execution has ended (`status`), so it takes no more signals or updates."""

    execution_id: str
    status: str


class InvalidState(TaggedError):
    """`action` does not apply to an execution in `status` (e.g. unpause a running one)."""

    execution_id: str
    status: str
    action: str


class UnknownToken(TaggedError):
    """No task was ever scheduled with this token."""

    token: str


class TaskClosed(TaggedError):
    """The task of this token already ended (completed, failed or timed out)."""

    token: str


class NonDeterminism(TaggedError):
    """Replay met a different operation at `position` than the one recorded there.

    `expected` and `found` are `"kind:name"` strings. The execution fails; nothing that
    was recorded is overwritten.
    """

    position: int
    expected: str
    found: str


class SignalTimedOut(TaggedError):
    """`wait_for_signal` (or `wait_for_update`) saw no `name` within `timeout_s`."""

    name: str
    timeout_s: float


class TaskFailed(TaggedError):
    """The external task `name` was failed with `fail_task(token, error)`."""

    name: str
    error: object


class TaskTimedOut(TaggedError):
    """The external task `name` did not complete within its timeout."""

    name: str


class TaskHeartbeatTimedOut(TaggedError):
    """The external task `name` sent no heartbeat within its heartbeat timeout."""

    name: str


class ChildFailed(TaggedError):
    """The child execution `execution_id` ended with `error`."""

    execution_id: str
    error: object


class ExecutionCancelled(TaggedError):
    """The execution was cancelled (`reason` as given to `cancel`)."""

    reason: str | None = None


class ExecutionTerminated(TaggedError):
    """The execution was terminated (`reason` as given to `terminate`)."""

    reason: str | None = None


class ExecutionTimedOut(TaggedError):
    """The execution did not end within its `timeout_s`."""

    timeout_s: float


class WaitTimedOut(TaggedError):
    """`handle.result(timeout=...)` gave up waiting; the execution goes on."""

    execution_id: str


class EventNotSet(TaggedError):
    """The execution has not (yet) set the event `key`."""

    execution_id: str
    key: str
