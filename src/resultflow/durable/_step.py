"""`DurableStep`: the step a durable workflow body gets.

Every `Step` variant, plus durable timers, signals, external tasks, child executions,
events, time and ids.

Each primitive is one checkpointed operation at the next position of the execution.
What the primitive does when it runs live (schedule a timer, take a buffered signal,
hand a token to an external system, start a child) is done by the replay driver
(`_replay.ExecutionReplay`), which is the one place that talks to the store; the
methods here only name the operation and shape its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from typing_extensions import TypeVarTuple

from resultflow._runtime.pipeline import RunState, StepSpec
from resultflow._runtime.step import Step

if TYPE_CHECKING:
    from resultflow.durable._workflow import DurableWorkflow

__all__ = ["DurableStep", "Primitive", "Suspend"]

T = TypeVar("T")
E_contra = TypeVar("E_contra", contravariant=True)
ChildE = TypeVar("ChildE")
Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class Primitive:
    """A durable operation handed to the replay driver instead of a user op.

    `kind` and `name` are what replay compares at each position; `options` carries
    what the driver needs to perform it live.
    """

    kind: str
    name: str
    options: dict[str, Any] = field(default_factory=dict[str, Any])


class Suspend(BaseException):
    """Unwinds a body that must wait: the execution is released until `wake_at`.

    A BaseException so no `except Exception:` in user code swallows it; the replay
    driver catches it (also inside exception groups from concurrent steps). `wake_at`
    None waits for an outside event only (a signal, a task, a child, `unpause`).
    """

    def __init__(self, wake_at: float | None, *, paused: bool = False) -> None:
        super().__init__(wake_at)
        self.wake_at = wake_at
        self.paused = paused


class DurableStep(Step[E_contra], Generic[E_contra]):
    """The step runner of a durable body: a `Step` whose every step is checkpointed.

    Unkeyed steps are keyed by position (`#1`, `#2`, …); a replayed execution gets each
    finished step's recorded Result back without running it again.
    """

    __slots__ = ()

    def __init__(self, run: RunState) -> None:
        super().__init__(run)

    async def _primitive(self, kind: str, name: str, key: str | None = None, **options: Any) -> Any:
        op = Primitive(kind, name, options)
        result = await self._run.execute(op, StepSpec(key=key, name=name))
        return self._unwrap(result)

    async def sleep(self, seconds: float, *, key: str | None = None, name: str = "sleep") -> None:
        """Wait `seconds` on a durable timer: the execution survives restarts meanwhile.

        The wake-up time is recorded when the timer is first reached; a replay after it
        has passed goes straight on.
        """
        if seconds < 0:
            raise ValueError(f"sleep needs seconds >= 0, not {seconds}")
        await self._primitive("sleep", name, key, seconds=seconds)

    async def wait_for_signal(self, name: str, timeout: float | None = None) -> Any:
        """The payload of the next `name` signal (FIFO, buffered); waits durably for one.

        Without a signal within `timeout` seconds the execution exits with
        `Err(SignalTimedOut(name, timeout))`.
        """
        return await self._primitive("signal", name, timeout=timeout)

    async def wait_for_task(
        self,
        name: str,
        start: Callable[[str], Awaitable[object] | object],
        timeout: float | None = None,
        heartbeat_timeout: float | None = None,
    ) -> Any:
        """Hand an unguessable token to `start(token)` and wait for the task's outcome.

        An external system finishes the task with `client.complete_task(token, value)`
        (the value is returned here) or `client.fail_task(token, error)` (the execution
        exits with `Err(TaskFailed)`); `timeout` and `heartbeat_timeout` end it with
        `Err(TaskTimedOut)` / `Err(TaskHeartbeatTimedOut)`.
        """
        return await self._primitive(
            "task", name, start=start, timeout=timeout, heartbeat_timeout=heartbeat_timeout
        )

    async def child(
        self,
        workflow: DurableWorkflow[T, ChildE, *Ts],
        *args: *Ts,
        execution_id: str | None = None,
    ) -> T:
        """Start `workflow(*args)` as a child execution and return its value.

        The child keeps a reference to this execution and position; when it fails, this
        execution exits with `Err(ChildFailed(execution_id, error))`.
        """
        value = await self._primitive(
            "child", workflow.name, workflow=workflow, args=args, execution_id=execution_id
        )
        return cast("T", value)

    async def set_event(self, key: str, value: object) -> None:
        """Publish `value` under `key`; clients read it with `client.get_event`."""
        await self._primitive("event", key, value=value)

    async def now(self) -> float:
        """The engine clock's time, recorded: a replay sees the same value."""
        return cast("float", await self._primitive("now", "now"))

    async def uuid(self) -> str:
        """A new random UUID (as a string), recorded: a replay sees the same value."""
        return cast("str", await self._primitive("uuid", "uuid"))
