"""`Client`: start, list, inspect, signal and control durable executions from any process.

Every expected failure is a Result (`Err(ExecutionNotFound)`, `Err(ExecutionClosed)`,
`Err(InvalidState)`, …), never an exception; only a failing store raises
(`DurableStoreError`). A `Client(url)` needs no workflow definitions: it starts
executions by workflow name. `engine.client` also takes the workflow objects, whose
argument types the type checkers verify against `start`'s arguments.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, overload

from typing_extensions import TypeVarTuple

from resultflow.clock import SYSTEM_CLOCK, Clock
from resultflow.durable._errors import (
    EventNotSet,
    ExecutionCancelled,
    ExecutionClosed,
    ExecutionExists,
    ExecutionNotFound,
    ExecutionTerminated,
    ExecutionTimedOut,
    InvalidInput,
    InvalidState,
    TaskClosed,
    UnknownToken,
    UnknownWorkflow,
    WaitTimedOut,
)
from resultflow.durable._payload import decode_payload, decode_result, dumps_args, dumps_payload
from resultflow.durable._store import (
    ConflictPolicy,
    DurableStore,
    ExecutionQuery,
    ExecutionRecord,
    NewExecution,
    open_store,
)
from resultflow.durable._types import ExecutionInfo, HistoryEvent, Status, WorkflowInfo
from resultflow.durable._workflow import DurableWorkflow
from resultflow.errors import UnexpectedError
from resultflow.persistence import Page, SerializationError
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from resultflow.durable._core import EngineCore

__all__ = ["Client", "ExecutionHandle"]

T = TypeVar("T")
E = TypeVar("E")
Ts = TypeVarTuple("Ts")

_POLL = 0.05  # real seconds between looks at an execution a handle waits for

EngineExit = ExecutionCancelled | ExecutionTerminated | ExecutionTimedOut
"""How an execution can end without its own Result."""


class ExecutionHandle(Generic[T, E]):
    """One execution, by id: wait for its Result, read it, signal or cancel it."""

    __slots__ = ("_client", "execution_id")

    def __init__(self, client: Client, execution_id: str) -> None:
        self._client = client
        self.execution_id = execution_id

    async def result(
        self, timeout: float | None = None
    ) -> Ok[T] | Err[E | UnexpectedError | EngineExit | WaitTimedOut | ExecutionNotFound]:
        """Wait (real time) for the execution to end and return its own Result.

        `Err(WaitTimedOut)` when `timeout` passes first (the execution goes on).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        store = await self._client._open()  # pyright: ignore[reportPrivateUsage]
        while True:
            record = await store.get_execution(self.execution_id)
            if record is None:
                return Err(ExecutionNotFound(self.execution_id))
            if record.status.closed:
                return cast("Ok[T] | Err[E]", _final_result(record))
            if deadline is not None and time.monotonic() >= deadline:
                return Err(WaitTimedOut(self.execution_id))
            await asyncio.sleep(
                _POLL if deadline is None else min(_POLL, max(0.0, deadline - time.monotonic()))
            )

    async def get(self) -> Ok[ExecutionInfo] | Err[ExecutionNotFound]:
        """The execution's info (see `Client.get`)."""
        return await self._client.get(self.execution_id)

    async def signal(
        self, name: str, payload: object = None
    ) -> Ok[None] | Err[ExecutionNotFound | ExecutionClosed | InvalidInput]:
        """Send it a signal (see `Client.signal`)."""
        return await self._client.signal(self.execution_id, name, payload)

    async def cancel(
        self, reason: str | None = None
    ) -> Ok[None] | Err[ExecutionNotFound | InvalidState]:
        """Cancel it (see `Client.cancel`)."""
        return await self._client.cancel(self.execution_id, reason)

    def __repr__(self) -> str:
        return f"ExecutionHandle({self.execution_id!r})"


class Client:
    """Talks to the durable store: start, list, inspect, signal and control executions.

    Args:
        url: the store URL (see `Engine`); ignored when `engine` is given.
        engine: use this engine's store, clock and in-process worker wake-ups.
        clock: the clock `start_delay` and `timeout` count on (default: the engine's,
            else real time).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        engine: EngineCore | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._engine = engine
        self._url = url
        self._store: DurableStore | None = None
        self.clock: Clock = clock or (engine.clock if engine is not None else SYSTEM_CLOCK)

    async def _open(self) -> DurableStore:
        if self._engine is not None:
            return await self._engine.open()
        if self._store is None:
            self._store = await open_store(self._url)
        return self._store

    async def close(self) -> None:
        """Close the client's own store connection (an engine's client leaves it open)."""
        if self._store is not None:
            store, self._store = self._store, None
            await store.close()

    def _notify(self) -> None:
        if self._engine is not None:
            self._engine.notify_work()

    # -- workflows and starting -----------------------------------------------------------
    async def workflows(self) -> list[WorkflowInfo]:
        """Every workflow some engine registered in this store."""
        return await (await self._open()).workflows()

    @overload
    async def start(
        self,
        workflow: DurableWorkflow[T, E, *Ts],
        /,
        *args: *Ts,
        execution_id: str | None = None,
        on_conflict: ConflictPolicy = "fail",
        start_delay: float | None = None,
        timeout: float | None = None,
        memo: Mapping[str, object] | None = None,
        tags: Sequence[str] | None = None,
        queue: str = "default",
    ) -> Ok[ExecutionHandle[T, E]] | Err[ExecutionExists | UnknownWorkflow | InvalidInput]: ...

    @overload
    async def start(
        self,
        workflow: str,
        /,
        *args: object,
        execution_id: str | None = None,
        on_conflict: ConflictPolicy = "fail",
        start_delay: float | None = None,
        timeout: float | None = None,
        memo: Mapping[str, object] | None = None,
        tags: Sequence[str] | None = None,
        queue: str = "default",
        version: str | None = None,
    ) -> Ok[ExecutionHandle[Any, Any]] | Err[ExecutionExists | UnknownWorkflow | InvalidInput]: ...

    async def start(
        self,
        workflow: DurableWorkflow[Any, Any, *tuple[Any, ...]] | str,
        /,
        *args: object,
        execution_id: str | None = None,
        on_conflict: ConflictPolicy = "fail",
        start_delay: float | None = None,
        timeout: float | None = None,
        memo: Mapping[str, object] | None = None,
        tags: Sequence[str] | None = None,
        queue: str = "default",
        version: str | None = None,
    ) -> Ok[ExecutionHandle[Any, Any]] | Err[ExecutionExists | UnknownWorkflow | InvalidInput]:
        """Start an execution of `workflow` with `args`; nothing is stored on an error.

        Args:
            workflow: a `DurableWorkflow`, or a registered workflow's name.
            args: the body's arguments (after the step), encoded by the codec: one it
                cannot encode is `Err(InvalidInput)`.
            execution_id: the id (default: a new UUID).
            on_conflict: `"fail"` (`Err(ExecutionExists)`), `"use_existing"` (a handle on
                the existing one) or `"terminate_existing"` (end it, start anew).
            start_delay: seconds (engine clock) before a worker may start it.
            timeout: seconds after which it ends TIMED_OUT.
            memo: JSON-safe facts kept with the execution.
            tags: labels `list(tags=...)` filters on.
            queue: the queue it waits in.
            version: with a name, the version (default: the latest registered).
        """
        if on_conflict not in ("fail", "use_existing", "terminate_existing"):
            raise ValueError(
                f"on_conflict must be fail, use_existing or terminate_existing, not {on_conflict!r}"
            )
        for what, value in (("start_delay", start_delay), ("timeout", timeout)):
            if value is not None and not (value >= 0 and value != float("inf")):
                return Err(
                    InvalidInput(f"{what} must be a finite number of seconds >= 0, not {value!r}")
                )
        store = await self._open()
        wanted: str | None
        if isinstance(workflow, DurableWorkflow):
            name, wanted = workflow.name, workflow.version
        else:
            name, wanted = workflow, version
        known = await store.workflows()
        versions = [w.version for w in known if w.name == name]
        if wanted is None:
            if not versions:
                return Err(UnknownWorkflow(name, "latest"))
            wanted = versions[-1]
        elif wanted not in versions:
            if self._engine is not None and self._engine.lookup(name, wanted) is not None:
                await store.register_workflows([WorkflowInfo(name, wanted)], self.clock.now())
            else:
                return Err(UnknownWorkflow(name, wanted))
        try:
            arguments = dumps_args(args)
            memo_text = json.dumps(dict(memo or {}))
        except (SerializationError, TypeError, ValueError) as exc:
            return Err(InvalidInput(str(exc)))
        now = self.clock.now()
        wake_at = now + (start_delay or 0.0)
        new = NewExecution(
            execution_id or str(uuid.uuid4()),
            name,
            wanted,
            arguments,
            created_at=now,
            wake_at=wake_at,
            queue=queue,
            timeout_at=None if timeout is None else wake_at + timeout,
            timeout_s=timeout,
            memo=memo_text,
            tags=tuple(tags or ()),
        )
        created, record = await store.create_execution(new, on_conflict)
        if not created and on_conflict == "fail":
            return Err(ExecutionExists(new.execution_id))
        if created:
            self._notify()
        return Ok(ExecutionHandle(self, record.execution_id))

    def handle(self, execution_id: str) -> ExecutionHandle[Any, Any]:
        """A handle on `execution_id` (no round trip; its calls report an unknown id)."""
        return ExecutionHandle(self, execution_id)

    # -- reading -------------------------------------------------------------------------
    async def get(self, execution_id: str) -> Ok[ExecutionInfo] | Err[ExecutionNotFound]:
        """The execution's status, times, parent, attempts, memo, tags and error."""
        record = await (await self._open()).get_execution(execution_id)
        if record is None:
            return Err(ExecutionNotFound(execution_id))
        return Ok(_info(record))

    async def list(
        self,
        statuses: Sequence[Status | str] | None = None,
        workflow: str | DurableWorkflow[Any, Any, *tuple[Any, ...]] | None = None,
        started_after: float | None = None,
        started_before: float | None = None,
        tags: Sequence[str] | None = None,
        limit: int = 100,
        order: Literal["asc", "desc"] = "asc",
        cursor: str | None = None,
    ) -> Page[ExecutionInfo]:
        """A page of executions by `(created_at, execution_id)`; follow `next_cursor`.

        Raises `ValueError` for a `limit` outside 1..1000, an unknown status or a cursor
        that no listing returned.
        """
        name = workflow.name if isinstance(workflow, DurableWorkflow) else workflow
        page = await (await self._open()).list_executions(
            ExecutionQuery(
                statuses=tuple(Status(s) for s in statuses or ()),
                workflow=name,
                started_after=started_after,
                started_before=started_before,
                tags=tuple(tags or ()),
                limit=limit,
                order=order,
                cursor=cursor,
            )
        )
        return Page([_info(r) for r in page.items], page.next_cursor)

    async def history(
        self,
        execution_id: str,
        limit: int = 100,
        order: Literal["asc", "desc"] = "asc",
        cursor: str | None = None,
    ) -> Ok[Page[HistoryEvent]] | Err[ExecutionNotFound]:
        """A page of the execution's history events, by `seq`."""
        page = await (await self._open()).history(
            execution_id, limit=limit, order=order, cursor=cursor
        )
        if page is None:
            return Err(ExecutionNotFound(execution_id))
        return Ok(page)

    async def step_result(
        self, execution_id: str, key: str
    ) -> Ok[Ok[object] | Err[object] | None] | Err[ExecutionNotFound]:
        """The recorded Result of step `key` (`"#n"` or its `key=`); Ok(None) if it never ran."""
        exists, text = await (await self._open()).step_result(execution_id, key)
        if not exists:
            return Err(ExecutionNotFound(execution_id))
        return Ok(None if text is None else decode_result(text))

    async def get_event(
        self, execution_id: str, key: str, timeout: float = 0
    ) -> Ok[object] | Err[ExecutionNotFound | EventNotSet]:
        """The value the execution published with `step.set_event(key, ...)`.

        Waits up to `timeout` real seconds for it to be set.
        """
        store = await self._open()
        deadline = time.monotonic() + timeout
        while True:
            exists, text = await store.get_event(execution_id, key)
            if not exists:
                return Err(ExecutionNotFound(execution_id))
            if text is not None:
                return Ok(decode_payload(text))
            if time.monotonic() >= deadline:
                return Err(EventNotSet(execution_id, key))
            await asyncio.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))

    # -- talking to executions ------------------------------------------------------------
    async def signal(
        self, execution_id: str, name: str, payload: object = None
    ) -> Ok[None] | Err[ExecutionNotFound | ExecutionClosed | InvalidInput]:
        """Send signal `name`; it is buffered until the execution waits for it (FIFO)."""
        try:
            text = dumps_payload(payload)
        except SerializationError as exc:
            return Err(InvalidInput(str(exc)))
        record = await (await self._open()).send_signal(execution_id, name, text, self.clock.now())
        if record is None:
            return Err(ExecutionNotFound(execution_id))
        if record.status.closed:
            return Err(ExecutionClosed(execution_id, record.status.value))
        self._notify()
        return Ok(None)

    async def _control(
        self, execution_id: str, action: str, reason: str | None = None
    ) -> Ok[None] | Err[ExecutionNotFound | InvalidState]:
        record, applied = await (await self._open()).control(
            execution_id, action, self.clock.now(), reason
        )
        if record is None:
            return Err(ExecutionNotFound(execution_id))
        if not applied:
            return Err(InvalidState(execution_id, record.status.value, action))
        self._notify()
        return Ok(None)

    async def cancel(
        self, execution_id: str, reason: str | None = None, by: str | None = None
    ) -> Ok[None] | Err[ExecutionNotFound | InvalidState]:
        """Cancel: the running step's task is cancelled, compensations run, it ends CANCELLED."""
        return await self._control(
            execution_id, "cancel", reason if by is None else f"{reason or ''} (by {by})".strip()
        )

    async def pause(self, execution_id: str) -> Ok[None] | Err[ExecutionNotFound | InvalidState]:
        """Pause at the next step boundary (PAUSED until `unpause`)."""
        return await self._control(execution_id, "pause")

    async def unpause(self, execution_id: str) -> Ok[None] | Err[ExecutionNotFound | InvalidState]:
        """Make a paused execution runnable again."""
        return await self._control(execution_id, "unpause")

    async def terminate(
        self, execution_id: str, reason: str | None = None
    ) -> Ok[None] | Err[ExecutionNotFound | InvalidState]:
        """End it at once (TERMINATED, no compensation)."""
        return await self._control(execution_id, "terminate", reason)

    async def resume(self, execution_id: str) -> Ok[None] | Err[ExecutionNotFound | InvalidState]:
        """Re-run a FAILED, CANCELLED or TIMED_OUT execution from its last checkpoint."""
        return await self._control(execution_id, "resume")

    # -- external tasks -------------------------------------------------------------------
    async def complete_task(
        self, token: str, value: object = None
    ) -> Ok[None] | Err[UnknownToken | TaskClosed | InvalidInput]:
        """Finish the task of `token` with `value` (what `wait_for_task` returns)."""
        return await self._finish_task(token, "COMPLETED", value, "value")

    async def fail_task(
        self, token: str, error: object
    ) -> Ok[None] | Err[UnknownToken | TaskClosed | InvalidInput]:
        """Fail the task of `token`: its execution exits with `Err(TaskFailed(name, error))`."""
        return await self._finish_task(token, "FAILED", error, "error")

    async def _finish_task(
        self, token: str, status: str, outcome: object, path: str
    ) -> Ok[None] | Err[UnknownToken | TaskClosed | InvalidInput]:
        """Encode the task's `outcome` (nothing stored if the codec refuses it), then close it."""
        try:
            text = dumps_payload(outcome, path=path)
        except SerializationError as exc:
            return Err(InvalidInput(str(exc)))
        task = await (await self._open()).finish_task(token, status, text, self.clock.now())
        if task is None:
            return Err(UnknownToken(token))
        if task.status != "OPEN":
            return Err(TaskClosed(token))
        self._notify()
        return Ok(None)

    async def heartbeat_task(self, token: str) -> Ok[None] | Err[UnknownToken | TaskClosed]:
        """Tell the engine the task of `token` is still being worked on."""
        task = await (await self._open()).heartbeat_task(token, self.clock.now())
        if task is None:
            return Err(UnknownToken(token))
        if task.status != "OPEN":
            return Err(TaskClosed(token))
        return Ok(None)


def _info(record: ExecutionRecord) -> ExecutionInfo:
    error: object = None
    if record.status is Status.FAILED and record.error is not None:
        failed = decode_result(record.error)
        error = failed.error if isinstance(failed, Err) else None
    return ExecutionInfo(
        execution_id=record.execution_id,
        workflow=record.workflow,
        version=record.version,
        status=record.status,
        created_at=record.created_at,
        started_at=record.started_at,
        ended_at=record.ended_at,
        parent=record.parent,
        attempts=record.attempts,
        memo=json.loads(record.memo),
        tags=record.tags,
        error=error,
    )


def _final_result(record: ExecutionRecord) -> Ok[object] | Err[object]:
    if record.status is Status.TERMINATED:
        reason = json.loads(record.error).get("reason") if record.error else None
        return Err(ExecutionTerminated(reason))
    if record.output is None:  # pragma: no cover - every closing path writes an output
        return Err(
            UnexpectedError(
                exception_type="", message=f"execution ended {record.status.value} without output"
            )
        )
    return decode_result(record.output)
