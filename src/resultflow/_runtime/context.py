"""`RunContext`: what a body, a hook or a helper can see of the run it is part of.

`step.context` is the run's `RunContext`. It carries the run's `workflow_id`, the
user's `context` value and the `clock`, and it lets helpers (conditionals, sagas,
approvals) emit events correlated with the run through `emit`.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeAlias

from resultflow.clock import Clock
from resultflow.events import WorkflowEvent

__all__ = ["EventSink", "RunContext", "current_context"]

EventSink: TypeAlias = Callable[[WorkflowEvent, object], Awaitable[None] | None]
"""An `on_event` listener: `sink(event, context)`, sync or async."""

logger = logging.getLogger("resultflow")


class RunContext:
    """The run-wide state shared by the runner, the steps and the helpers of one run."""

    __slots__ = (
        "_listener_warned",
        "_step_ids",
        "clock",
        "context",
        "name",
        "now",
        "on_event",
        "synchronous",
        "workflow_id",
    )

    def __init__(
        self,
        workflow_id: str,
        *,
        context: object,
        clock: Clock,
        on_event: EventSink | None,
        name: str | None = None,
    ) -> None:
        self.workflow_id = workflow_id
        self.context = context
        self.clock = clock
        # The clock's wall time, for event timestamps: its bound method, stored so that
        # an event's timestamp costs one call.
        self.now: Callable[[], float] = clock.now
        self.on_event = on_event
        self.name = name
        self._step_ids = itertools.count(1)
        self._listener_warned = False
        # True under run_sync: nothing can await an async listener's work there.
        self.synchronous = False

    @property
    def listening(self) -> bool:
        """True when an `on_event` sink is attached (build events only then)."""
        return self.on_event is not None

    def new_step_id(self) -> str:
        """A step id unique within this run (`"s1"`, `"s2"`, ...)."""
        return f"s{next(self._step_ids)}"

    async def emit(self, event: WorkflowEvent) -> None:
        """Send `event` to the listener; a listener that raises is logged once per run."""
        pending = self.notify(event)
        if pending is not None:
            await pending

    def notify(self, event: WorkflowEvent) -> Awaitable[None] | None:
        """Call the listener now; return what is left to await when it is async, else None.

        The lifecycle calls it for every event and awaits only what it returns, so a
        synchronous listener costs no coroutine. Under `run_sync` it never returns
        anything: an async listener's awaitable is closed and reported instead. A
        listener that raises is logged once per run.
        """
        sink = self.on_event
        if sink is None:
            return None
        try:
            outcome = sink(event, self.context)
        except Exception as exc:  # a listener never breaks the run
            self._warn_listener(exc)
            return None
        if outcome is not None and hasattr(outcome, "__await__"):
            if not self.synchronous:
                return self._finish(outcome)
            close = getattr(outcome, "close", None)
            if callable(close):
                close()
            self._warn_listener(TypeError("run_sync needs a synchronous on_event listener"))
        return None

    async def _finish(self, outcome: Awaitable[None]) -> None:
        try:
            await outcome
        except Exception as exc:
            self._warn_listener(exc)

    def emit_sync(self, event: WorkflowEvent) -> None:
        """Send `event` to a synchronous listener (an async one is closed and reported)."""
        pending = self.notify(event)
        if pending is not None:  # only outside run_sync: an async listener's coroutine
            close = getattr(pending, "close", None)
            if callable(close):
                close()
            self._warn_listener(TypeError("emit_sync needs a synchronous on_event listener"))

    def _warn_listener(self, exc: Exception) -> None:
        if not self._listener_warned:
            self._listener_warned = True
            logger.warning(
                "resultflow: on_event listener raised %s: %s (run %s); further listener "
                "errors in this run are not reported",
                type(exc).__name__,
                exc,
                self.workflow_id,
            )


run_context_var: ContextVar[RunContext | None] = ContextVar("resultflow_current_run", default=None)


def current_context() -> RunContext | None:
    """The `RunContext` of the run executing in this task, or None outside any run.

    Ops that want to emit events correlated with the run that awaits them (approval
    steps, for example) read it here.
    """
    return run_context_var.get()
