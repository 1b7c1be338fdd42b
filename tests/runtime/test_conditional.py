"""Conditionals: standalone when/unless(_or), and conditionals(ctx) emitting step_skipped."""

from __future__ import annotations

import pytest

from resultflow._runtime.conditional import (
    Conditionals,
    conditionals,
    unless,
    unless_or,
    when,
    when_or,
)
from resultflow._runtime.context import RunContext
from resultflow.events import StepSkipped, WorkflowEvent
from resultflow.testing._clock import TestClock


class Recorder:
    """An on_event sink that keeps every event and the context it came with."""

    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []
        self.contexts: list[object] = []

    def __call__(self, event: WorkflowEvent, context: object) -> None:
        self.events.append(event)
        self.contexts.append(context)


def make_context(sink: Recorder | None) -> RunContext:
    return RunContext(
        "wf-1", context={"tenant": "acme"}, clock=TestClock(start=1_000.0), on_event=sink
    )


async def fetch() -> int:
    return 42


def compute() -> str:
    return "computed"


def yes() -> bool:
    return True


def no() -> bool:
    return False


async def async_yes() -> bool:
    return True


async def async_no() -> bool:
    return False


# -- standalone ----------------------------------------------------------------------
@pytest.mark.parametrize("cond", [True, yes, async_yes])
async def test_when_runs_the_thunk_when_the_condition_holds(cond: object) -> None:
    assert await when(cond, fetch) == 42  # type: ignore[arg-type]
    assert await when(cond, compute) == "computed"  # type: ignore[arg-type]


@pytest.mark.parametrize("cond", [False, no, async_no])
async def test_when_skips_and_returns_none(cond: object) -> None:
    calls: list[int] = []

    def thunk() -> int:
        calls.append(1)
        return 1

    assert await when(cond, thunk, name="x", reason="off") is None  # type: ignore[arg-type]
    assert calls == []


@pytest.mark.parametrize(("cond", "expected"), [(True, None), (no, 42), (async_yes, None)])
async def test_unless_is_the_inverse(cond: object, expected: int | None) -> None:
    assert await unless(cond, fetch) == expected  # type: ignore[arg-type]


async def test_when_or_and_unless_or_return_the_default_when_skipped() -> None:
    assert await when_or(True, fetch, -1) == 42
    assert await when_or(async_no, fetch, -1) == -1
    assert await when_or(False, compute, None) is None
    assert await unless_or(yes, compute, "default") == "default"
    assert await unless_or(False, compute, "default") == "computed"


async def test_the_thunk_result_is_returned_as_is_even_a_falsy_one() -> None:
    assert await when(True, lambda: 0) == 0
    assert await when_or(True, lambda: None, "default") is None


async def test_predicates_are_evaluated_once_per_call() -> None:
    calls = 0

    def predicate() -> bool:
        nonlocal calls
        calls += 1
        return True

    await when(predicate, fetch)
    await unless_or(predicate, fetch, 0)
    assert calls == 2


async def test_exceptions_from_predicate_or_thunk_propagate() -> None:
    def broken() -> bool:
        raise RuntimeError("predicate")

    async def failing() -> int:
        raise ValueError("thunk")

    with pytest.raises(RuntimeError, match="predicate"):
        await when(broken, fetch)
    with pytest.raises(ValueError, match="thunk"):
        await when(True, failing)


async def test_bad_conditions_and_thunks_are_type_errors() -> None:
    with pytest.raises(TypeError, match="condition"):
        await when("yes", fetch)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="thunk"):
        await when(True, 42)  # type: ignore[call-overload]


# -- inside a run --------------------------------------------------------------------
async def test_conditionals_emit_step_skipped_with_the_run_identity() -> None:
    sink = Recorder()
    ctx = make_context(sink)
    helpers = conditionals(ctx)
    assert isinstance(helpers, Conditionals)
    assert helpers.context is ctx

    assert await helpers.when(False, fetch, name="fetch", reason="feature off") is None
    assert await helpers.unless(async_yes, compute, name="compute") is None
    assert await helpers.when_or(no, fetch, 7, name="fallback", reason="r") == 7
    assert await helpers.unless_or(True, fetch, 8) == 8

    assert sink.events == [
        StepSkipped(
            workflow_id="wf-1",
            ts=1_000.0,
            context={"tenant": "acme"},
            step_id="s1",
            name="fetch",
            reason="feature off",
        ),
        StepSkipped(
            workflow_id="wf-1",
            ts=1_000.0,
            context={"tenant": "acme"},
            step_id="s2",
            name="compute",
        ),
        StepSkipped(
            workflow_id="wf-1",
            ts=1_000.0,
            context={"tenant": "acme"},
            step_id="s3",
            name="fallback",
            reason="r",
        ),
        StepSkipped(workflow_id="wf-1", ts=1_000.0, context={"tenant": "acme"}, step_id="s4"),
    ]
    assert sink.contexts == [{"tenant": "acme"}] * 4
    assert all(event.type == "step_skipped" for event in sink.events)


async def test_conditionals_emit_nothing_when_the_thunk_runs() -> None:
    sink = Recorder()
    helpers = conditionals(make_context(sink))
    assert await helpers.when(yes, fetch) == 42
    assert await helpers.unless(False, compute) == "computed"
    assert await helpers.when_or(True, fetch, 0) == 42
    assert await helpers.unless_or(async_no, fetch, 0) == 42
    assert sink.events == []


async def test_conditionals_without_a_listener_build_no_event() -> None:
    ctx = make_context(None)
    helpers = conditionals(ctx)
    assert await helpers.when(False, fetch) is None
    # No event was built, so no step id was spent.
    assert ctx.new_step_id() == "s1"


async def test_async_sinks_are_awaited() -> None:
    received: list[WorkflowEvent] = []

    async def sink(event: WorkflowEvent, context: object) -> None:
        received.append(event)

    ctx = RunContext("wf-2", context=None, clock=TestClock(), on_event=sink)
    await conditionals(ctx).when(False, fetch, name="n")
    assert len(received) == 1
    assert isinstance(received[0], StepSkipped)
    assert received[0].workflow_id == "wf-2"


async def test_standalone_helpers_never_emit() -> None:
    sink = Recorder()
    make_context(sink)  # a run exists, but the standalone helpers do not know it
    assert await when(False, fetch, name="x", reason="y") is None
    assert await unless_or(True, fetch, 1) == 1
    assert sink.events == []
