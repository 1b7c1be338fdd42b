"""The two drivers of the lifecycle: `AsyncDriver` (`run`) and `SyncDriver` (`run_sync`).

A driver answers what `_runtime.lifecycle`'s flows ask of the outside world: the step's
Result, one attempt, the value of an awaitable from user code, a sleep, a deadline, the
body's call (see the table there). They are thin, and differ only where async and sync
code must: the async driver awaits and supports guards and timeouts; the sync driver
calls, sleeps with `clock.sleep_sync`, and refuses an awaitable returned by user code
with a TypeError (a coroutine is closed first, so Python does not also warn that it
was never awaited).

The sync driver's methods are `async def` too, but never suspend: `complete` runs a
flow under it to its end with one `send(None)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from resultflow._runtime.lifecycle import execution_flow, step_flow
from resultflow._runtime.pipeline import AnyResult, RunBody, StepInfo
from resultflow.errors import StepTimeout, WorkflowTimeout
from resultflow.reliability._timeout import EXPIRED, Expired, within
from resultflow.result import Err, Ok

if TYPE_CHECKING:
    from resultflow._runtime.pipeline import RunState, StepSpec
    from resultflow.reliability._guard import Guard

__all__ = ["AsyncDriver", "SyncDriver", "complete", "refuse_awaitable"]

T = TypeVar("T")


class AsyncDriver:
    """The lifecycle under asyncio: ops, hooks, caches and listeners are awaited."""

    __slots__ = ("state",)

    def __init__(self, state: RunState) -> None:
        self.state = state

    def step(self, op: object, spec: StepSpec) -> Coroutine[Any, Any, AnyResult]:
        """The lifecycle of one step (`lifecycle.step_flow`) under this driver."""
        return step_flow(self.state, op, spec)

    def execute(
        self, op: object, spec: StepSpec, step_id: str, parent_id: str | None
    ) -> Awaitable[AnyResult]:
        """The step's Result: `execution_flow`, or what the run's interceptor makes of it.

        Not a coroutine function: it hands back the coroutine that produces the Result,
        which saves a frame on the path of every observed step.
        """
        state = self.state
        if state.interceptor is not None:
            return self._intercepted(op, spec, step_id, parent_id)
        if spec.plain:
            return state.once(op, spec.name or spec.key or step_id)
        return execution_flow(state, op, spec, step_id, parent_id)

    async def _intercepted(
        self, op: object, spec: StepSpec, step_id: str, parent_id: str | None
    ) -> AnyResult:
        state = self.state
        interceptor = state.interceptor
        assert interceptor is not None

        async def proceed() -> AnyResult:
            if spec.plain:
                return await state.once(op, spec.name or spec.key or step_id)
            return await execution_flow(state, op, spec, step_id, parent_id)

        return await interceptor(StepInfo(step_id, spec.name, spec.key), op, proceed)

    async def attempt(
        self, op: object, spec: StepSpec, label: str, seconds: float | None
    ) -> tuple[AnyResult, bool]:
        """One try: guards outermost (limiter, then breaker), then the timeout.

        A timeout becomes `Err(StepTimeout)` inside the guards, so a breaker counts it
        as a failure; the flag tells the flow to report it (`step_timeout`).
        """
        state = self.state
        guards = spec.guards
        if not guards and seconds is None:
            return await state.once(op, label), False
        expired = False

        async def timed() -> AnyResult:
            nonlocal expired
            if seconds is None:
                return await state.once(op, label)
            outcome = await within(state.ctx.clock, seconds, state.once(op, label))
            if isinstance(outcome, Expired):
                expired = True
                return Err(StepTimeout(name=label, seconds=seconds))
            return outcome

        call: Callable[[], Awaitable[AnyResult]] = timed
        for guard in reversed(guards):
            call = _through(guard, call)
        return await call(), expired

    def wait(self, awaitable: Awaitable[T], what: str) -> Awaitable[T]:
        """The awaitable itself: the flow awaits it."""
        return awaitable

    def sleep(self, seconds: float) -> Awaitable[None]:
        """`clock.sleep(seconds)`."""
        return self.state.ctx.clock.sleep(seconds)

    def bounded(
        self, seconds: float, flow: Coroutine[Any, Any, AnyResult]
    ) -> Awaitable[AnyResult | Expired]:
        """`flow` within `seconds` (cancelled on expiry)."""
        return within(self.state.ctx.clock, seconds, flow)

    async def run_body(self, body: RunBody) -> AnyResult:
        """Call the body and await it, within the run's `timeout` if it has one."""
        awaitable = body.call()
        if not inspect.isawaitable(awaitable):
            raise TypeError(
                f"the body of run() must be an async def; {_describe(body.body)} returned "
                f"{type(awaitable).__name__} (use run_sync for a synchronous body)"
            )
        if body.timeout is None:
            return Ok(await awaitable)
        outcome = await within(self.state.ctx.clock, body.timeout, awaitable)
        if outcome is EXPIRED:
            return Err(WorkflowTimeout(seconds=body.timeout))
        return Ok(outcome)


def _through(
    guard: Guard, call: Callable[[], Awaitable[AnyResult]]
) -> Callable[[], Awaitable[AnyResult]]:
    async def guarded() -> AnyResult:
        return await guard.call_result(call)

    return guarded


class SyncDriver:
    """The lifecycle without asyncio (`run_sync`): everything is called, nothing awaited."""

    __slots__ = ("state",)

    def __init__(self, state: RunState) -> None:
        self.state = state

    def step(self, op: object, spec: StepSpec) -> Coroutine[Any, Any, AnyResult]:
        """The lifecycle of one step (`lifecycle.step_flow`) under this driver."""
        return step_flow(self.state, op, spec)

    async def execute(
        self, op: object, spec: StepSpec, step_id: str, parent_id: str | None
    ) -> AnyResult:
        """The step's Result: the op called once, or `execution_flow` for retries."""
        state = self.state
        if spec.plain:
            return state.once_sync(op, spec.name or spec.key or step_id)
        return await execution_flow(state, op, spec, step_id, parent_id)

    async def attempt(
        self, op: object, spec: StepSpec, label: str, seconds: float | None
    ) -> tuple[AnyResult, bool]:
        """One try: the op called (run_sync has no guards or timeouts)."""
        if spec.guards or seconds is not None:
            raise TypeError("run_sync has no guards or timeouts; use the async run")
        return self.state.once_sync(op, label), False

    async def wait(self, awaitable: Awaitable[T], what: str) -> T:
        """Refuse it: under run_sync, hooks, caches and loaders must be synchronous."""
        refuse_awaitable(awaitable, what)

    async def sleep(self, seconds: float) -> None:
        """`clock.sleep_sync(seconds)`: blocks the thread."""
        self.state.ctx.clock.sleep_sync(seconds)

    async def bounded(
        self, seconds: float, flow: Coroutine[Any, Any, AnyResult]
    ) -> AnyResult | Expired:
        """Refuse it: run_sync has no timeouts."""
        flow.close()
        raise TypeError("run_sync has no timeouts; use the async run")

    async def run_body(self, body: RunBody) -> AnyResult:
        """Call the body; an awaitable from it is a mistake (an async def under run_sync)."""
        value = body.call()
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()
            raise TypeError(
                f"the body of run_sync() must be a plain function; {_describe(body.body)} "
                "returned an awaitable (use the async run for an async def body)"
            )
        return Ok(value)


def complete(flow: Coroutine[Any, Any, T]) -> T:
    """Run a flow under the sync driver to its end (it never suspends) and return its value."""
    try:
        suspended = flow.send(None)
    except StopIteration as stop:
        value: T = stop.value
        return value
    flow.close()
    raise RuntimeError(f"a run_sync lifecycle suspended on {suspended!r}; nothing there may wait")


def refuse_awaitable(value: object, what: str) -> NoReturn:
    """Raise the TypeError `run_sync` gives for an awaitable from user code (closed first)."""
    if inspect.iscoroutine(value):
        value.close()
    raise TypeError(f"run_sync needs a synchronous {what} (it returned an awaitable)")


def _describe(body: object) -> str:
    return str(getattr(body, "__qualname__", None) or repr(body))
