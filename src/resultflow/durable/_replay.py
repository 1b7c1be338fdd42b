"""The replay driver: runs one claimed execution from its checkpoints.

This is the third driver of the one step lifecycle (`resultflow._runtime`): the body
runs through `run()` exactly as in process, and the driver stands in at the single
point where a step's Result is produced (the runner's `interceptor` seam). For each
operation it takes the next position, and:

- when a checkpoint exists for it, returns the recorded Result without running
  anything (after checking that the operation at that position is the one recorded:
  otherwise the execution fails with `NonDeterminism`, and nothing is overwritten);
- when none exists, runs it live — a user op through the usual retries, timeouts and
  guards, a durable primitive through the store — and writes its checkpoint in one
  short transaction fenced on this worker's lease before handing the Result back.

A body that must wait (a timer not yet due, no signal yet, an open task or child)
raises `Suspend`; the driver releases the execution as WAITING with its wake-up time
and a later claim replays it. Pause and cancel requests are honoured at the next live
step boundary.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

from resultflow._runtime.pipeline import AnyResult, StepInfo
from resultflow._runtime.runner import run
from resultflow._runtime.step import Step
from resultflow.durable._errors import (
    ChildFailed,
    ExecutionCancelled,
    ExecutionTimedOut,
    NonDeterminism,
    SignalTimedOut,
    TaskFailed,
    TaskHeartbeatTimedOut,
    TaskTimedOut,
)
from resultflow.durable._payload import (
    decode_payload,
    decode_result,
    dumps_args,
    dumps_payload,
    dumps_result,
    loads_args,
)
from resultflow.durable._step import DurableStep, Primitive, Suspend
from resultflow.durable._store import (
    Checkpoint,
    ExecutionRecord,
    LeaseLost,
    NewExecution,
    NewHistory,
    TaskRecord,
)
from resultflow.durable._types import ParentRef, Status
from resultflow.errors import UnexpectedError, WorkflowTimeout
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from resultflow.durable._core import EngineCore
    from resultflow.durable._workflow import DurableWorkflow

__all__ = ["ExecutionReplay", "NonDeterminismExit"]

log = logging.getLogger("resultflow.durable")

_AUX = "~"  # keys of auxiliary records (a wait's deadline, a task's start) contain it


class NonDeterminismExit(BaseException):
    """Stops a replay whose body no longer matches its record (see `NonDeterminism`)."""

    def __init__(self, error: NonDeterminism) -> None:
        super().__init__(error)
        self.error = error


class ExecutionReplay:
    """Runs one claimed execution (`record`) to its end or to its next wait."""

    def __init__(
        self,
        engine: EngineCore,
        record: ExecutionRecord,
        owner: str,
        workflow: DurableWorkflow[Any, Any, Any],
    ) -> None:
        self.engine = engine
        self.store = engine.store
        self.clock = engine.clock
        self.record = record
        self.owner = owner
        self.workflow = workflow
        self.execution_id = record.execution_id
        self.attempt = record.attempts
        self.control: str | None = record.control
        self._cancelling = False
        self.shutting_down = False
        self._position = 0
        self._by_key: dict[str, Checkpoint] = {}
        self._by_position: dict[int, Checkpoint] = {}
        self._used_keys: set[str] = set()

    # -- the run ------------------------------------------------------------------------
    async def execute(self) -> None:
        """Replay and continue the execution; write how it ended (or why it waits)."""
        for checkpoint in await self.store.checkpoints(self.execution_id, self.attempt):
            self._by_key[checkpoint.key] = checkpoint
            if _AUX not in checkpoint.key:
                self._by_position[checkpoint.position] = checkpoint
        now = self.clock.now()
        record = self.record
        if record.timeout_at is not None and now >= record.timeout_at:
            await self._close(Status.TIMED_OUT, Err(ExecutionTimedOut(record.timeout_s or 0.0)))
            return
        if self.control == "cancel" and not self.workflow.saga:
            await self._close(Status.CANCELLED, Err(ExecutionCancelled(None)))
            return
        try:
            args = loads_args(record.input)
        except Exception as exc:  # the stored input no longer decodes: fail this one only
            await self._close(Status.FAILED, Err(UnexpectedError.from_exception(exc)))
            return
        timeout = None if record.timeout_at is None else record.timeout_at - now
        body = self.workflow.body
        if self.workflow.saga:
            from resultflow.saga import SagaStep

            body = SagaStep.as_body(body)

        async def durable_body(step: Step[Any], *body_args: object) -> object:
            return await body(DurableStep(step._run), *body_args)  # pyright: ignore[reportPrivateUsage]

        options: dict[str, Any] = {
            "workflow_id": self.execution_id,
            "name": self.workflow.name,
            "interceptor": self._intercept,
            "clock": self.clock,
        }
        if self.engine.on_event is not None:
            options["on_event"] = self.engine.on_event
        if timeout is not None:
            options["timeout"] = max(timeout, 0.0)
        try:
            result = cast("AnyResult", await run(durable_body, *args, **options))
        except BaseException as exc:
            await self._ended_by(exc)
            return
        if isinstance(result, Err) and isinstance(result.error, WorkflowTimeout):
            await self._close(Status.TIMED_OUT, Err(ExecutionTimedOut(record.timeout_s or 0.0)))
        elif isinstance(result, Ok):
            await self._close(Status.SUCCEEDED, result)
        else:
            await self._close(Status.FAILED, result)

    async def _ended_by(self, exc: BaseException) -> None:
        """The body ended by an exception: a wait, a lost lease, nondeterminism, a cancel."""
        suspends = _find(exc, Suspend)
        if isinstance(exc, LeaseLost) or _find(exc, LeaseLost):
            log.warning("execution %s: lease lost, another worker has it", self.execution_id)
            return
        nondeterminism = _find(exc, NonDeterminismExit)
        if nondeterminism:
            await self._close(Status.FAILED, Err(nondeterminism[0].error))
            return
        if suspends:
            paused = any(s.paused for s in suspends)
            wakes = [s.wake_at for s in suspends if s.wake_at is not None]
            wake_at = min(wakes) if wakes else None
            if self.record.timeout_at is not None:
                wake_at = (
                    self.record.timeout_at
                    if wake_at is None
                    else min(wake_at, self.record.timeout_at)
                )
            status = Status.PAUSED if paused else Status.WAITING
            history = [NewHistory("WorkflowPaused", self.clock.now())] if paused else []
            if not await self.store.release(
                self.owner,
                self.execution_id,
                self.attempt,
                status=status,
                wake_at=wake_at,
                wakeups_seen=self.record.wakeups,
                history=history,
            ):
                log.warning("execution %s: lease lost before release", self.execution_id)
            return
        if (
            isinstance(exc, asyncio.CancelledError)
            and self.control == "cancel"
            and not self.shutting_down
        ):
            await self._close(Status.CANCELLED, Err(ExecutionCancelled(None)))
            return
        if isinstance(exc, asyncio.CancelledError) and self.shutting_down:
            return  # the worker is stopping: it releases the execution for another
        raise exc

    async def _close(self, status: Status, result: AnyResult) -> None:
        now = self.clock.now()
        error = None if isinstance(result, Ok) else dumps_result(result)
        event = {
            Status.SUCCEEDED: "WorkflowSucceeded",
            Status.FAILED: "WorkflowFailed",
            Status.CANCELLED: "WorkflowCancelled",
            Status.TIMED_OUT: "WorkflowTimedOut",
        }[status]
        closed = await self.store.close_execution(
            self.owner,
            self.execution_id,
            self.attempt,
            status=status,
            ended_at=now,
            output=dumps_result(result),
            error=error,
            history=[NewHistory(event, now)],
        )
        if not closed:
            log.warning("execution %s: lease lost before it could close", self.execution_id)

    # -- the interceptor: one point where every step's Result is produced ----------------
    async def _intercept(
        self, info: StepInfo, op: object, proceed: Callable[[], Awaitable[AnyResult]]
    ) -> AnyResult:
        self._position += 1
        position = self._position
        if isinstance(op, Primitive):
            kind, name = op.kind, op.name
        else:
            kind, name = "step", info.name or ""
        key = info.key or f"#{position}"
        recorded = self._by_key.get(key)
        if recorded is not None and key in self._used_keys:
            return decode_result(recorded.result)  # a repeated key: its first result
        at_position = self._by_position.get(position)
        if at_position is not None and (
            at_position.key != key or (at_position.kind, at_position.name) != (kind, name)
        ):
            raise NonDeterminismExit(
                NonDeterminism(position, f"{at_position.kind}:{at_position.name}", f"{kind}:{name}")
            )
        self._used_keys.add(key)
        if recorded is not None:
            if recorded.position != position:
                raise NonDeterminismExit(
                    NonDeterminism(position, f"{recorded.kind}:{recorded.name}", f"{kind}:{name}")
                )
            result = decode_result(recorded.result)
            if kind == "sleep" and isinstance(result, Ok):
                self._hold_until(cast("float", result.value))
            return result
        self._check_control()
        if isinstance(op, Primitive):
            return await self._perform(op, key, position)
        result = await proceed()
        await self._save(key, position, kind, name, result)
        return result

    def _check_control(self) -> None:
        """At a live step boundary: stop here for a pending pause or cancel."""
        if self.control == "pause" or (self.control == "cancel" and not self._cancelling):
            raise self._suspension(None)

    def request_cancel(self) -> None:
        """A cancel arrived while a step runs: the worker cancels the run's task now."""
        self.control = "cancel"
        self._cancelling = True

    def _suspension(self, wake_at: float | None) -> BaseException:
        """What stops the body where it must wait: a Suspend, or the pending cancel/pause."""
        if self.control == "cancel" and not self._cancelling:
            self._cancelling = True
            return asyncio.CancelledError("execution cancelled")
        if self.control == "pause":
            return Suspend(0.0, paused=True)
        return Suspend(wake_at)

    def _hold_until(self, due: float) -> None:
        """A timer: go on if it is due, else wait for it."""
        if due > self.clock.now():
            raise self._suspension(due)

    async def _save(
        self,
        key: str,
        position: int,
        kind: str,
        name: str,
        result: AnyResult,
        history: list[NewHistory] | None = None,
    ) -> None:
        now = self.clock.now()
        try:
            text = dumps_result(result)
        except Exception as exc:  # a value the codec cannot store fails the step, not the worker
            result = Err(UnexpectedError.from_exception(exc))
            text = dumps_result(result)
        if history is None:
            ended = "StepSucceeded" if isinstance(result, Ok) else "StepFailed"
            data = f'{{"position": {position}, "kind": "{kind}"}}'
            history = [NewHistory("StepStarted", now, key, data), NewHistory(ended, now, key, data)]
        checkpoint = Checkpoint(
            self.execution_id, self.attempt, key, position, kind, name, text, now
        )
        if not await self.store.save_checkpoint(self.owner, checkpoint, history):
            raise LeaseLost(self.execution_id)
        self._by_key[key] = checkpoint
        if _AUX not in key:
            self._by_position[position] = checkpoint

    # -- the durable primitives, live -----------------------------------------------------
    async def _perform(self, op: Primitive, key: str, position: int) -> AnyResult:
        options = op.options
        now = self.clock.now()
        if op.kind == "sleep":
            due = now + float(options["seconds"])
            data = f'{{"until": {due!r}}}'
            await self._save(
                key,
                position,
                "sleep",
                op.name,
                Ok(due),
                [NewHistory("TimerScheduled", now, key, data)],
            )
            self._hold_until(due)
            return Ok(due)
        if op.kind == "now":
            result: AnyResult = Ok(now)
        elif op.kind == "uuid":
            result = Ok(str(uuid.uuid4()))
        elif op.kind == "event":
            return await self._set_event(op, key, position)
        elif op.kind == "signal":
            return await self._signal(op, key, position)
        elif op.kind == "task":
            return await self._task(op, key, position)
        elif op.kind == "child":
            return await self._child(op, key, position)
        else:  # pragma: no cover - every Primitive kind is listed above
            raise AssertionError(f"unknown durable operation {op.kind!r}")
        await self._save(key, position, op.kind, op.name, result)
        return result

    async def _deadline(
        self, key: str, position: int, seconds: float | None, what: str
    ) -> float | None:
        """The deadline recorded when a wait first started (recorded now if it did not)."""
        aux = self._by_key.get(key + _AUX + "wait")
        if aux is not None:
            started = decode_result(aux.result)
            return cast("float | None", started.value if isinstance(started, Ok) else None)
        now = self.clock.now()
        deadline = None if seconds is None else now + seconds
        await self._save(
            key + _AUX + "wait", position, "wait", what, Ok(deadline), [NewHistory(what, now, key)]
        )
        return deadline

    async def _signal(self, op: Primitive, key: str, position: int) -> AnyResult:
        timeout = cast("float | None", op.options.get("timeout"))
        deadline = await self._deadline(key, position, timeout, "SignalWaitStarted")
        now = self.clock.now()
        template = Checkpoint(
            self.execution_id,
            self.attempt,
            key,
            position,
            "signal",
            op.name,
            '{"ok": true, "value": $PAYLOAD}',
            now,
        )
        payload = await self.store.consume_signal(self.owner, template, op.name)
        if payload is not None:
            return Ok(decode_payload(payload))
        if deadline is not None and now >= deadline:
            error: AnyResult = Err(SignalTimedOut(op.name, cast("float", timeout)))
            await self._save(
                key,
                position,
                "signal",
                op.name,
                error,
                [NewHistory("SignalWaitTimedOut", now, op.name)],
            )
            return error
        raise self._suspension(deadline)

    async def _set_event(self, op: Primitive, key: str, position: int) -> AnyResult:
        value = dumps_payload(op.options["value"], path="event")
        now = self.clock.now()
        checkpoint = Checkpoint(
            self.execution_id,
            self.attempt,
            key,
            position,
            "event",
            op.name,
            dumps_result(Ok(None)),
            now,
        )
        if not await self.store.set_event(self.owner, checkpoint, op.name, value):
            raise LeaseLost(self.execution_id)
        return Ok(None)

    async def _task(self, op: Primitive, key: str, position: int) -> AnyResult:
        options = op.options
        now = self.clock.now()
        task = await self.store.task_at(self.execution_id, self.attempt, position)
        if task is None:
            timeout = cast("float | None", options.get("timeout"))
            heartbeat = cast("float | None", options.get("heartbeat_timeout"))
            task = TaskRecord(
                token=secrets.token_urlsafe(24),
                execution_id=self.execution_id,
                attempt=self.attempt,
                name=op.name,
                position=position,
                status="OPEN",
                result=None,
                deadline=None if timeout is None else now + timeout,
                heartbeat_timeout=heartbeat,
                heartbeat_deadline=None if heartbeat is None else now + heartbeat,
                created_at=now,
            )
            if not await self.store.create_task(self.owner, task):
                raise LeaseLost(self.execution_id)
        started_key = key + _AUX + "start"
        if started_key not in self._by_key:
            start = cast("Callable[[str], object]", options["start"])
            try:
                outcome = start(task.token)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                error: AnyResult = Err(UnexpectedError.from_exception(exc))
                await self._save(key, position, "task", op.name, error)
                return error
            await self._save(started_key, position, "task-start", op.name, Ok(task.token), [])
            task = await self.store.task_at(self.execution_id, self.attempt, position) or task
        if task.status == "COMPLETED":
            result: AnyResult = Ok(decode_payload(task.result or "null"))
            await self._save(
                key, position, "task", op.name, result, [NewHistory("TaskSucceeded", now, op.name)]
            )
            return result
        if task.status == "FAILED":
            result = Err(TaskFailed(op.name, decode_payload(task.result or "null")))
            await self._save(
                key, position, "task", op.name, result, [NewHistory("TaskFailed", now, op.name)]
            )
            return result
        if task.deadline is not None and now >= task.deadline:
            await self.store.finish_task(task.token, "TIMED_OUT", None, now)
            result = Err(TaskTimedOut(op.name))
            await self._save(
                key, position, "task", op.name, result, [NewHistory("TaskTimedOut", now, op.name)]
            )
            return result
        if task.heartbeat_deadline is not None and now >= task.heartbeat_deadline:
            await self.store.finish_task(task.token, "TIMED_OUT", None, now)
            result = Err(TaskHeartbeatTimedOut(op.name))
            await self._save(
                key,
                position,
                "task",
                op.name,
                result,
                [NewHistory("TaskHeartbeatTimedOut", now, op.name)],
            )
            return result
        wakes = [d for d in (task.deadline, task.heartbeat_deadline) if d is not None]
        raise self._suspension(min(wakes) if wakes else None)

    async def _child(self, op: Primitive, key: str, position: int) -> AnyResult:
        workflow = cast("DurableWorkflow[Any, Any, Any]", op.options["workflow"])
        child_id = (
            cast("str | None", op.options.get("execution_id")) or f"{self.execution_id}/{position}"
        )
        now = self.clock.now()
        try:
            arguments = dumps_args(cast("tuple[object, ...]", op.options["args"]))
        except Exception as exc:
            error: AnyResult = Err(UnexpectedError.from_exception(exc))
            await self._save(key, position, "child", op.name, error)
            return error
        created, child = await self.store.create_execution(
            NewExecution(
                child_id,
                workflow.name,
                workflow.version,
                arguments,
                created_at=now,
                wake_at=now,
                parent=ParentRef(self.execution_id, position),
            ),
            "use_existing",
        )
        if created:
            await self.store.append_history(
                self.execution_id, [NewHistory("ChildWorkflowScheduled", now, child_id)]
            )
            self.engine.notify_work()
        if not child.status.closed:
            raise self._suspension(None)
        if child.status is Status.SUCCEEDED and child.output is not None:
            outcome = decode_result(child.output)
            history = [NewHistory("ChildWorkflowSucceeded", now, child_id)]
            await self._save(key, position, "child", op.name, outcome, history)
            return outcome
        failure = decode_result(child.output) if child.output else Err(child.status.value)
        error = Err(ChildFailed(child_id, failure.error if isinstance(failure, Err) else failure))
        await self._save(
            key,
            position,
            "child",
            op.name,
            error,
            [NewHistory("ChildWorkflowFailed", now, child_id)],
        )
        return error


def _find(exc: BaseException, kind: type[Any]) -> list[Any]:
    """Every `kind` in `exc`, looking inside exception groups (concurrent steps)."""
    if isinstance(exc, kind):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        found: list[Any] = []
        for inner in exc.exceptions:  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
            found += _find(cast("BaseException", inner), kind)
        return found
    return []
