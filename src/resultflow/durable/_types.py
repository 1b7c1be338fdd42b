"""The values the durable engine hands out: statuses, executions, history events.

Times are epoch seconds (`float`) in Python objects; the wire forms (JSON, CLI, HTTP)
turn them into ISO-8601 UTC strings.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "CLOSED_STATUSES",
    "ExecutionInfo",
    "HistoryEvent",
    "ParentRef",
    "Status",
    "WorkflowInfo",
]


class Status(enum.StrEnum):
    """Where an execution is in its life; the string values are the wire form."""

    PENDING = "PENDING"
    """Started (or made runnable again) and waiting for a worker to claim it."""
    RUNNING = "RUNNING"
    """Claimed by a worker that holds its lease."""
    WAITING = "WAITING"
    """Waiting for a timer, a signal, a task, a child execution or an approval."""
    PAUSED = "PAUSED"
    """Stopped at a step boundary by `pause`, until `unpause`."""
    SUCCEEDED = "SUCCEEDED"
    """Ended with `Ok`."""
    FAILED = "FAILED"
    """Ended with an `Err` (its own, or one of the engine's such as `NonDeterminism`)."""
    CANCELLED = "CANCELLED"
    """Ended by `cancel` (saga compensations ran)."""
    TERMINATED = "TERMINATED"
    """Ended at once by `terminate` (no compensation)."""
    TIMED_OUT = "TIMED_OUT"
    """Ended because its `timeout` passed."""

    @property
    def closed(self) -> bool:
        """True for the five statuses an execution never leaves on its own."""
        return self in CLOSED_STATUSES


CLOSED_STATUSES: frozenset[Status] = frozenset(
    {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.TERMINATED, Status.TIMED_OUT}
)
"""The statuses of executions that have ended."""


@dataclass(frozen=True, slots=True)
class WorkflowInfo:
    """A registered workflow: its `name` and `version`."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class ParentRef:
    """The execution that started a child, and the position (`seq`) of that child step."""

    execution_id: str
    seq: int


@dataclass(frozen=True, slots=True)
class ExecutionInfo:
    """What the store knows about one execution (as `client.get` and `client.list` give it).

    `attempts` counts runs under this id (a `terminate_existing` start adds one); `error`
    is the decoded error value of a FAILED execution, None otherwise.
    """

    execution_id: str
    workflow: str
    version: str
    status: Status
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    parent: ParentRef | None = None
    attempts: int = 1
    memo: Mapping[str, object] = field(default_factory=dict[str, object])
    tags: tuple[str, ...] = ()
    error: object = None


@dataclass(frozen=True, slots=True)
class HistoryEvent:
    """One row of an execution's history: `seq` 1, 2, 3… and a contract event `type`.

    `key` is the step key or the signal/task/event name the event is about (or None);
    `data` is a JSON-safe dict.
    """

    seq: int
    type: str
    ts: float
    key: str | None = None
    data: Mapping[str, object] = field(default_factory=dict[str, object])
