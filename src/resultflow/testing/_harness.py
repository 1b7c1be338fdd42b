"""`WorkflowHarness`: run a workflow under test with scripted step outcomes and virtual time.

```python
harness = WorkflowHarness()                       # its clock is a fresh TestClock
harness.script([ok_outcome(user), err_outcome(Declined(reason="limit"))])
result = await harness.run(checkout, "order-1")   # steps 1 and 2 never run their ops
assert harness.assert_steps(["load_user", "charge"])
```

Steps take their outcome from, in this order: an outcome scripted for their name or key
(`script_step`), else the next outcome of the ordered script (`script`), else they run
their real op — or, with `WorkflowHarness(strict=True)`, the harness stops the run and
`harness.run` raises `ScriptExhausted`. A scripted step does not run its op (a bare
coroutine op is closed, so Python does not warn); it stands in for the whole step, so
its own `retry=` and `timeout=` do not apply. Unscripted steps run for real through the
full pipeline (retries, timeouts, guards) on the harness's `TestClock`.

The harness plugs into `run` through its `interceptor=` seam: `harness.run(body, ...)`
passes `interceptor=harness.intercept`, `clock=harness.clock` and an `on_event` sink
that records events (then forwards them to yours).
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self, TypeVar, cast, overload

from typing_extensions import ParamSpec, TypeVarTuple, Unpack

from resultflow._runtime.context import EventSink, current_context
from resultflow._runtime.pipeline import AnyResult, StepInfo, discard
from resultflow._runtime.runner import RunOptions, Workflow, run
from resultflow.errors import ResultflowError, UnexpectedError
from resultflow.events import WorkflowEvent
from resultflow.result import Err, Ok
from resultflow.testing._clock import TestClock
from resultflow.testing._invocation import (
    AssertionReport,
    Invocation,
    check_called,
    check_not_called,
    check_steps,
    op_arguments,
)
from resultflow.testing._outcome import ScriptedOutcome, ScriptItem, as_outcome

if TYPE_CHECKING:
    from resultflow._runtime.step import Step

__all__ = ["ScriptExhausted", "WorkflowHarness"]

T = TypeVar("T")
E = TypeVar("E")
U = TypeVar("U")
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")

Proceed = Callable[[], Awaitable[AnyResult]]
UnexpectedMapper = Callable[[Exception], object]

# The `catch_unexpected` of the harness run in progress (a raise_outcome honours it).
_current_mapper: ContextVar[UnexpectedMapper | None] = ContextVar(
    "resultflow_harness_mapper", default=None
)


class ScriptExhausted(ResultflowError, AssertionError):
    """A strict harness met a step with no scripted outcome left for it.

    `harness.run` raises it after the run ends, whatever the body did with the step's
    failure, so a test cannot pass by accident.
    """

    def __init__(self, info: StepInfo, position: int, scripted: int) -> None:
        label = info.name or info.key or info.step_id
        super().__init__(
            f"step {label!r} (step #{position} of this harness) has no scripted outcome: "
            f"the ordered script had {scripted} outcome(s), all consumed, and none is "
            f"scripted for {label!r} by name or key (strict=True); add one with "
            "script([...]) or script_step(...)"
        )
        self.step = label


@dataclass(slots=True)
class _NamedScript:
    """Outcomes scripted for one step name or key: `(outcome, calls left or None)`."""

    entries: deque[tuple[ScriptedOutcome, int | None]]

    def take(self) -> ScriptedOutcome | None:
        if not self.entries:
            return None
        outcome, left = self.entries[0]
        if left is not None:
            if left <= 1:
                self.entries.popleft()
            else:
                self.entries[0] = (outcome, left - 1)
        return outcome


class WorkflowHarness:
    """Runs workflows with scripted step outcomes on virtual time, recording every step.

    `clock` defaults to a fresh `TestClock` (autojumping virtual time). With
    `strict=True`, a step that finds no scripted outcome stops the run and `run` raises
    `ScriptExhausted`; by default such a step runs its real op.
    """

    def __init__(self, clock: TestClock | None = None, *, strict: bool = False) -> None:
        self.clock: TestClock = clock if clock is not None else TestClock()
        self.strict = strict
        self._ordered: deque[ScriptedOutcome] = deque()
        self._ordered_total = 0
        self._named: dict[str, _NamedScript] = {}
        self._slots: list[Invocation | None] = []
        self._events: list[WorkflowEvent] = []
        self._problems: list[ScriptExhausted] = []

    # -- scripting ------------------------------------------------------------------------
    def script(self, outcomes: Iterable[ScriptItem]) -> Self:
        """Queue outcomes for the next steps, in the order they execute.

        Steps scripted by name or key (`script_step`) do not consume these. Calling
        `script` again appends to the queue.
        """
        items = [as_outcome(item) for item in outcomes]
        self._ordered.extend(items)
        self._ordered_total += len(items)
        return self

    def script_step(self, step: str, outcome: ScriptItem, *, times: int | None = None) -> Self:
        """Script the step whose name or key is `step`: every call, or the next `times` calls.

        Entries for one step queue up: `script_step("pay", err, times=2)` then
        `script_step("pay", ok)` fails the first two calls and succeeds afterwards. When
        every entry is used up the step falls back to the ordered script (or runs).
        """
        if times is not None and times < 1:
            raise ValueError(f"times must be >= 1 (or None for every call), not {times}")
        entry = (as_outcome(outcome), times)
        self._named.setdefault(step, _NamedScript(deque())).entries.append(entry)
        return self

    def pending_outcomes(self) -> int:
        """How many outcomes of the ordered script no step has consumed yet."""
        return len(self._ordered)

    # -- running ---------------------------------------------------------------------------
    @overload
    async def run(
        self,
        body: Callable[[Step[E], *Ts], Awaitable[T]],
        /,
        *args: *Ts,
        catch_unexpected: None = None,
        **options: Unpack[RunOptions],
    ) -> Ok[T] | Err[E | UnexpectedError]: ...

    @overload
    async def run(
        self,
        body: Callable[[Step[E], *Ts], Awaitable[T]],
        /,
        *args: *Ts,
        catch_unexpected: Callable[[Exception], U],
        **options: Unpack[RunOptions],
    ) -> Ok[T] | Err[E | U]: ...

    async def run(
        self,
        body: Callable[..., Awaitable[object]],
        /,
        *args: object,
        catch_unexpected: Callable[[Exception], object] | None = None,
        **options: Unpack[RunOptions],
    ) -> AnyResult:
        """`run(body, *args, **options)` under this harness; same result as `run`.

        Options are `run`'s, except `clock` and `interceptor`, which the harness owns
        (passing them is a `TypeError`). An `on_event` you pass still gets every event.
        Raises `ScriptExhausted` when a strict harness ran out of outcomes.
        """
        for owned in ("clock", "interceptor"):
            if owned in options:
                raise TypeError(
                    f"WorkflowHarness.run sets {owned}= itself; "
                    + (
                        "pass the clock to WorkflowHarness(clock=...)"
                        if owned == "clock"
                        else "script outcomes with script() / script_step() instead"
                    )
                )
        options["clock"] = self.clock
        options["interceptor"] = self.intercept
        options["on_event"] = self._sink(options.get("on_event"))
        problems_before = len(self._problems)
        token = _current_mapper.set(catch_unexpected)
        try:
            untyped_run = cast("Callable[..., Awaitable[AnyResult]]", run)
            result = await untyped_run(body, *args, catch_unexpected=catch_unexpected, **options)
        finally:
            _current_mapper.reset(token)
        self._raise_new_problem(problems_before)
        return result

    async def run_workflow(
        self, flow: Workflow[P, T, E], /, *args: P.args, **kwargs: P.kwargs
    ) -> Ok[T] | Err[E]:
        """Call a `@workflow` under this harness (its clock and interceptor are replaced).

        The workflow's own `on_event` still gets every event.
        """
        configured = flow.with_options(
            clock=self.clock,
            interceptor=self.intercept,
            on_event=self._sink(flow.options.get("on_event")),
        )
        problems_before = len(self._problems)
        token = _current_mapper.set(flow.catch_unexpected)
        try:
            result = await configured(*args, **kwargs)
        finally:
            _current_mapper.reset(token)
        self._raise_new_problem(problems_before)
        return result

    async def intercept(self, info: StepInfo, op: object, proceed: Proceed) -> AnyResult:
        """The `interceptor=` seam: play the step's scripted outcome, or run it for real.

        Public so a test can pass it to `run` / `run_sync`-free code paths of its own:
        `run(body, interceptor=harness.intercept, clock=harness.clock)`.
        """
        try:
            outcome = self._next_outcome(info)
        except ScriptExhausted:
            discard(op)  # the step stops here: its op never runs
            raise
        args = op_arguments(op)
        scripted = outcome is not None and outcome.kind != "real"
        context = current_context()
        slot = len(self._slots)
        self._slots.append(None)
        started = self.clock.monotonic()
        result: AnyResult | None = None
        try:
            result = await self._perform(outcome, info, op, proceed)
            return result
        finally:
            self._slots[slot] = Invocation(
                name=info.name,
                key=info.key,
                args=args,
                result=result,
                duration_s=self.clock.monotonic() - started,
                scripted=scripted,
                step_id=info.step_id,
                workflow_id=context.workflow_id if context is not None else None,
            )

    # -- what happened ------------------------------------------------------------------
    def invocations(self, step: str | None = None) -> list[Invocation]:
        """The executed steps in the order they started (only those of `step`, when given)."""
        done = [inv for inv in self._slots if inv is not None]
        if step is None:
            return done
        return [inv for inv in done if inv.matches(step)]

    def events(self) -> list[WorkflowEvent]:
        """Every event of the harness's runs so far, in emission order."""
        return list(self._events)

    def assert_steps(self, steps: Sequence[str]) -> AssertionReport:
        """Pass when the executed steps are exactly `steps` (names or keys), in order."""
        return check_steps(self.invocations(), steps)

    def assert_step_called(self, step: str, times: int | None = None) -> AssertionReport:
        """Pass when `step` (a name or key) executed at least once, or exactly `times` times."""
        return check_called(self.invocations(), step, times)

    def assert_step_not_called(self, step: str) -> AssertionReport:
        """Pass when `step` (a name or key) never executed."""
        return check_not_called(self.invocations(), step)

    def assert_script_consumed(self) -> AssertionReport:
        """Pass when every outcome of the ordered script was used by some step."""
        left = list(self._ordered)
        if not left:
            return AssertionReport(True, "every scripted outcome was consumed")
        shown = ", ".join(outcome.describe() for outcome in left)
        return AssertionReport(False, f"{len(left)} scripted outcome(s) never used: {shown}")

    def reset(self) -> None:
        """Forget scripts, invocations, events and problems (the clock keeps its time)."""
        self._ordered.clear()
        self._ordered_total = 0
        self._named.clear()
        self._slots.clear()
        self._events.clear()
        self._problems.clear()

    # -- internals -------------------------------------------------------------------------
    def _next_outcome(self, info: StepInfo) -> ScriptedOutcome | None:
        for label in (info.name, info.key):
            if label is not None and label in self._named:
                outcome = self._named[label].take()
                if outcome is not None:
                    return outcome
        if self._ordered:
            return self._ordered.popleft()
        if self.strict:
            problem = ScriptExhausted(info, len(self._slots) + 1, self._ordered_total)
            self._problems.append(problem)
            raise problem
        return None

    async def _perform(
        self, outcome: ScriptedOutcome | None, info: StepInfo, op: object, proceed: Proceed
    ) -> AnyResult:
        if outcome is None:
            return await proceed()
        if outcome.delay_s:
            try:
                await self.clock.sleep(outcome.delay_s)
            except BaseException:
                discard(op)  # cancelled while waiting: the op never runs
                raise
        if outcome.kind == "real":
            return await proceed()
        discard(op)
        return self._play(outcome, info)

    def _play(self, outcome: ScriptedOutcome, info: StepInfo) -> AnyResult:
        if outcome.kind == "return":
            assert outcome.result is not None
            return outcome.result
        exc = outcome.exception
        assert exc is not None
        mapper = _current_mapper.get()
        if mapper is not None:
            return Err(mapper(exc), exc)
        label = info.name or info.key or info.step_id
        return Err(UnexpectedError.from_exception(exc, step=label), exc)

    def _record(self, event: WorkflowEvent, context: object) -> None:
        self._events.append(event)

    def _sink(self, user_sink: EventSink | None) -> EventSink:
        if user_sink is None:
            return self._record

        async def both(event: WorkflowEvent, context: object) -> None:
            self._events.append(event)
            outcome = user_sink(event, context)
            if inspect.isawaitable(outcome):
                await outcome

        return both

    def _raise_new_problem(self, before: int) -> None:
        if len(self._problems) > before:
            raise self._problems[before]

    def __repr__(self) -> str:
        return (
            f"WorkflowHarness(clock={self.clock!r}, strict={self.strict}, "
            f"invocations={len(self.invocations())}, pending_outcomes={len(self._ordered)})"
        )
