"""Conditionals: standalone when/unless(_or), and conditionals(ctx) emitting step_skipped."""

from __future__ import annotations

import asyncio
import gc
from typing import Any, ClassVar

import pytest

from resultflow import (
    Err,
    MemoryCache,
    Ok,
    Result,
    Step,
    SyncStep,
    TaggedError,
    UnexpectedError,
    run,
    run_sync,
)
from resultflow._runtime.conditional import (
    Conditionals,
    conditionals,
    unless,
    unless_or,
    when,
    when_or,
)
from resultflow._runtime.context import RunContext
from resultflow._runtime.options import SyncStepOptions
from resultflow.devtools import Devtools
from resultflow.events import StepEventBase, StepSkipped, StepStarted, WorkflowEvent
from resultflow.reliability import RetryPolicy
from resultflow.testing._clock import TestClock


class NotFound(TaggedError):
    tag: ClassVar[str] = "conditional.NotFound"
    id: str


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


async def fetch_ok(value: int) -> Result[int, NotFound]:
    return Ok(value)


async def fetch_err(id: str) -> Result[str, NotFound]:
    return Err(NotFound(id))


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


# -- step.when / step.unless: conditional steps ------------------------------------------
def event_kinds(events: list[WorkflowEvent]) -> list[tuple[str, str | None, str | None]]:
    """(type, name, key) of every step event, in order."""
    return [(e.type, e.name, e.key) for e in events if isinstance(e, StepEventBase)]


async def test_a_conditional_step_that_runs_is_a_step_with_its_name_and_key() -> None:
    sink = Recorder()

    async def body(step: Step[NotFound]) -> tuple[int | None, str, int | None]:
        found = await step.when(True, lambda: Ok(7), name="lookup", key="user:7")
        label = await step.unless_or(False, Ok("ran"), "skipped", name="label")
        counted = await step.unless(no, fetch_ok(3), name="count")
        return found, label, counted

    result = await run(body, on_event=sink)
    assert result == Ok((7, "ran", 3))
    assert event_kinds(sink.events) == [
        ("step_start", "lookup", "user:7"),
        ("step_success", "lookup", "user:7"),
        ("step_complete", "lookup", "user:7"),
        ("step_start", "label", None),
        ("step_success", "label", None),
        ("step_start", "count", None),
        ("step_success", "count", None),
    ]


async def test_an_err_from_a_conditional_step_ends_the_run() -> None:
    after: list[str] = []

    async def body(step: Step[NotFound]) -> str:
        await step.when(True, lambda: Err(NotFound("7")), name="lookup")
        after.append("went on")
        return "done"

    assert await run(body) == Err(NotFound("7"))
    assert after == []

    async def with_default(step: Step[NotFound]) -> str:
        return await step.unless_or(False, fetch_err("8"), "fallback")

    assert await run(with_default) == Err(NotFound("8"))


async def test_a_skipped_conditional_step_emits_step_skipped_with_name_key_and_reason() -> None:
    sink = Recorder()
    pending = fetch_ok(1)  # a bare coroutine that never runs: closed, so no warning

    async def body(step: Step[NotFound]) -> tuple[object, ...]:
        a = await step.when(False, pending, name="notify", key="mail:1", reason="no email")
        b = await step.unless(async_yes, lambda: Ok(2), name="audit")
        c = await step.when_or(no, lambda: Ok(3), -1, reason="off")
        d = await step.unless_or(True, lambda: Ok(4), "default")
        return a, b, c, d

    result = await run(body, on_event=sink, workflow_id="wf-9", context="ctx")
    gc.collect()
    assert result == Ok((None, None, -1, "default"))
    skipped = [e for e in sink.events if isinstance(e, StepSkipped)]
    assert [(e.name, e.key, e.reason, e.workflow_id, e.context) for e in skipped] == [
        ("notify", "mail:1", "no email", "wf-9", "ctx"),
        ("audit", None, None, "wf-9", "ctx"),
        (None, None, "off", "wf-9", "ctx"),
        (None, None, None, "wf-9", "ctx"),
    ]
    assert [e.type for e in sink.events if isinstance(e, StepEventBase)] == ["step_skipped"] * 4


async def test_a_conditional_step_takes_every_step_option() -> None:
    attempts: list[int] = []
    cache = MemoryCache()

    def flaky() -> Ok[str] | Err[NotFound]:
        attempts.append(1)
        return Err(NotFound("busy")) if len(attempts) < 2 else Ok("ok")

    async def body(step: Step[NotFound]) -> tuple[str | None, str | None]:
        first = await step.when(True, flaky, key="flaky", retry=RetryPolicy(attempts=2))
        again = await step.when(True, flaky, key="flaky")  # same key: a cache hit
        return first, again

    assert await run(body, cache=cache, clock=TestClock()) == Ok(("ok", "ok"))
    assert len(attempts) == 2

    async def unknown(step: Step[NotFound]) -> None:
        options: Any = {"nmae": "typo"}
        await step.when(False, lambda: Ok(1), **options)

    result = await run(unknown)
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert "unknown step option(s): nmae" in result.error.message


async def test_a_skip_inside_a_steps_op_has_that_step_as_parent() -> None:
    sink = Recorder()

    async def body(step: Step[NotFound]) -> tuple[int | None, int | None]:
        async def inner() -> Ok[int | None]:
            return Ok(await step.when(False, lambda: Ok(1), name="inner"))

        return await step.all(inner, lambda: Ok(2), name="both")

    assert await run(body, on_event=sink) == Ok((None, 2))
    (skipped,) = [e for e in sink.events if isinstance(e, StepSkipped)]
    (holder,) = [e for e in sink.events if isinstance(e, StepStarted) and e.name == "both[0]"]
    assert skipped.parent_id == holder.step_id


async def test_a_predicate_that_raises_closes_the_skipped_coroutine() -> None:
    def broken() -> bool:
        raise RuntimeError("predicate")

    async def body(step: Step[NotFound]) -> int | None:
        return await step.when(broken, fetch_ok(1))

    result = await run(body)
    gc.collect()
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert result.error.message == "predicate"


async def test_devtools_show_a_conditional_step_that_ran_as_a_node() -> None:
    devtools = Devtools()

    async def body(step: Step[NotFound]) -> int | None:
        await step.when(False, lambda: Ok(0), name="notify", reason="no email")
        return await step.when(True, lambda: Ok(1), name="lookup")

    assert await run(body, on_event=devtools.handle_event, name="flow", clock=TestClock()) == Ok(1)
    lines = devtools.render().splitlines()
    assert lines[1:] == ["|-- [skipped] notify: no email", "`-- [ok] lookup 0ms"]


async def test_otel_shows_a_conditional_step_that_ran_as_a_span() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from resultflow.otel import OTelAdapter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    adapter = OTelAdapter(provider)

    async def body(step: Step[NotFound]) -> int | None:
        return await step.when(True, lambda: Ok(1), name="lookup")

    assert await run(body, on_event=adapter.handle_event, name="flow") == Ok(1)
    provider.shutdown()
    assert sorted(span.name for span in exporter.get_finished_spans()) == [
        "step lookup",
        "workflow flow",
    ]


# -- SyncStep.when / unless -----------------------------------------------------------------
def load(value: int) -> Result[int, NotFound]:
    return Ok(value)


def test_sync_conditional_steps_run_as_steps_and_skip_with_events() -> None:
    sink = Recorder()

    def body(step: SyncStep[NotFound]) -> tuple[int | None, int | None, int, str]:
        a = step.when(True, lambda: load(1), name="one", key="k1")
        b = step.unless(yes, load(2), name="two", reason="not needed")
        c = step.when_or(no, lambda: load(3), -3, reason="off")
        d = step.unless_or(False, Ok("four"), "none", name="four")
        return a, b, c, d

    assert run_sync(body, on_event=sink, clock=TestClock()) == Ok((1, None, -3, "four"))
    assert event_kinds(sink.events) == [
        ("step_start", "one", "k1"),
        ("step_success", "one", "k1"),
        ("step_complete", "one", "k1"),
        ("step_skipped", "two", None),
        ("step_skipped", None, None),
        ("step_start", "four", None),
        ("step_success", "four", None),
    ]
    reasons = [e.reason for e in sink.events if isinstance(e, StepSkipped)]
    assert reasons == ["not needed", "off"]


def test_an_err_from_a_sync_conditional_step_ends_the_run() -> None:
    after: list[str] = []

    def body(step: SyncStep[NotFound]) -> str:
        step.unless(False, lambda: Err(NotFound("7")), name="lookup")
        after.append("went on")
        return "done"

    assert run_sync(body) == Err(NotFound("7"))
    assert after == []


def test_sync_and_async_conditional_steps_emit_the_same_events() -> None:
    def events_of_sync() -> list[str]:
        sink = Recorder()

        def body(step: SyncStep[NotFound]) -> int | None:
            step.when(False, lambda: load(0), name="skip", key="s")
            return step.when(True, lambda: load(1), name="run", key="r", retry=2)

        run_sync(body, on_event=sink, clock=TestClock(), workflow_id="w", name="flow")
        return [repr((e.type, getattr(e, "name", None))) for e in sink.events]

    async def events_of_async() -> list[str]:
        sink = Recorder()

        async def body(step: Step[NotFound]) -> int | None:
            await step.when(False, lambda: load(0), name="skip", key="s")
            return await step.when(True, lambda: load(1), name="run", key="r", retry=2)

        await run(body, on_event=sink, clock=TestClock(), workflow_id="w", name="flow")
        return [repr((e.type, getattr(e, "name", None))) for e in sink.events]

    assert events_of_sync() == asyncio.run(events_of_async())


def test_sync_conditional_steps_refuse_async_predicates_and_async_only_options() -> None:
    def async_predicate(step: SyncStep[NotFound]) -> int | None:
        return step.when(async_yes, lambda: load(1))  # type: ignore[arg-type]

    result = run_sync(async_predicate)
    gc.collect()  # the predicate's coroutine was closed: no "never awaited" warning
    assert isinstance(result, Err) and isinstance(result.error, UnexpectedError)
    assert "run_sync needs a synchronous condition" in result.error.message

    def async_only(step: SyncStep[NotFound]) -> int | None:
        options: Any = {"timeout": 1.0}
        return step.when(True, lambda: load(1), **options)

    refused = run_sync(async_only)
    assert isinstance(refused, Err) and isinstance(refused.error, UnexpectedError)
    assert "unknown step option(s): timeout; a SyncStep takes" in refused.error.message


def test_sync_steps_take_sync_step_options() -> None:
    sink = Recorder()

    def body(step: SyncStep[NotFound]) -> int:
        options: SyncStepOptions = {"name": "load", "key": "k", "description": "d"}
        return step(lambda: load(5), **options) + step.try_(lambda: 1, error=NotFound("x"), ttl=1.0)

    assert run_sync(body, on_event=sink) == Ok(6)
    assert ("step_start", "load", "k") in event_kinds(sink.events)

    def unknown(step: SyncStep[NotFound]) -> int:
        options: Any = {"policy": None}
        return step(lambda: load(5), **options)

    refused = run_sync(unknown)
    assert isinstance(refused, Err) and isinstance(refused.error, UnexpectedError)
    assert "unknown step option(s): policy" in refused.error.message
