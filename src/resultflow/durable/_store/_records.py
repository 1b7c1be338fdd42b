"""The rows the durable store reads and writes, as the engine and client see them.

Payloads (`input`, `output`, `error`, `result`, `data`, `memo`) stay JSON text here:
the store never encodes or decodes user values, the codec does that above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from resultflow.durable._types import ParentRef, Status

__all__ = [
    "Checkpoint",
    "ConflictPolicy",
    "ExecutionQuery",
    "ExecutionRecord",
    "LeaseLost",
    "NewExecution",
    "NewHistory",
    "TaskRecord",
]

ConflictPolicy = Literal["fail", "use_existing", "terminate_existing"]
"""What `start` does when the execution id is taken (see `Client.start`)."""


@dataclass(frozen=True, slots=True)
class NewExecution:
    """An execution to create: `input` is the codec's JSON of the arguments."""

    execution_id: str
    workflow: str
    version: str
    input: str
    created_at: float
    wake_at: float
    queue: str = "default"
    timeout_at: float | None = None
    timeout_s: float | None = None
    parent: ParentRef | None = None
    memo: str = "{}"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One row of `rf_executions`, payloads still JSON text."""

    execution_id: str
    workflow: str
    version: str
    status: Status
    created_at: float
    started_at: float | None
    ended_at: float | None
    parent: ParentRef | None
    attempts: int
    memo: str
    tags: tuple[str, ...]
    input: str
    output: str | None
    error: str | None
    queue: str
    wake_at: float | None
    timeout_at: float | None
    timeout_s: float | None
    owner: str | None
    lease_until: float | None
    control: str | None
    wakeups: int = 0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A finished operation of an execution's run `attempt`, at `position`, under `key`.

    `kind` and `name` are what replay compares; `result` is the codec's JSON of the
    operation's Result.
    """

    execution_id: str
    attempt: int
    key: str
    position: int
    kind: str
    name: str
    result: str
    created_at: float


@dataclass(frozen=True, slots=True)
class NewHistory:
    """A history row to append; the store gives it the execution's next `seq`."""

    type: str
    ts: float
    key: str | None = None
    data: str = "{}"


@dataclass(frozen=True, slots=True)
class ExecutionQuery:
    """Filters and paging of `list_executions` (see `Client.list`)."""

    statuses: tuple[Status, ...] = ()
    workflow: str | None = None
    started_after: float | None = None
    started_before: float | None = None
    tags: tuple[str, ...] = ()
    limit: int = 100
    order: Literal["asc", "desc"] = "asc"
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """An external task (`wait_for_task`) finished by its unguessable `token`.

    `status` is OPEN, COMPLETED or FAILED; `result` the codec's JSON of the value
    (COMPLETED) or the error (FAILED). Deadlines follow the engine's clock.
    """

    token: str
    execution_id: str
    attempt: int
    name: str
    position: int
    status: str
    result: str | None
    deadline: float | None
    heartbeat_timeout: float | None
    heartbeat_deadline: float | None
    created_at: float


class LeaseLost(Exception):
    """This worker no longer holds the execution's run: another worker took it over.

    Internal to the engine: the run that meets it stops at once without writing.
    """

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"lost the lease on execution {execution_id!r}")
        self.execution_id = execution_id
