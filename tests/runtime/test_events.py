"""Events: order, fields, ids and parent ids, failing listeners."""

from __future__ import annotations

import asyncio
import logging

import pytest

from resultflow import Err, MemoryCache, Ok, Step, run
from resultflow.events import (
    ScopeEnded,
    ScopeStarted,
    StepCompleted,
    StepFailed,
    StepStarted,
    StepSucceeded,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.reliability._retry import RetryPolicy
from resultflow.testing._clock import TestClock


class Recorder:
    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []
        self.contexts: list[object] = []

    def __call__(self, event: WorkflowEvent, ctx: object) -> None:
        self.events.append(event)
        self.contexts.append(ctx)

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]


async def test_keyed_step_with_cache_emits_the_documented_order() -> None:
    rec = Recorder()

    async def body(step: Step[str]) -> int:
        return await step(lambda: Ok(1), key="k")

    await run(body, on_event=rec, cache=MemoryCache(), on_after_step=lambda *a: None)
    assert rec.types == [
        "workflow_start",
        "step_cache_miss",
        "step_start",
        "step_success",
        "step_complete",
        "hook_after_step",
        "workflow_success",
    ]


async def test_two_retries_then_success_order() -> None:
    rec = Recorder()
    attempts = iter([Err("e1"), Err("e2"), Ok("ok")])

    async def body(step: Step[str]) -> str:
        return await step(
            lambda: next(attempts), key="r", retry=RetryPolicy(attempts=3, jitter=False)
        )

    result = await run(body, on_event=rec, clock=TestClock())
    assert result == Ok("ok")
    assert [t for t in rec.types if t.startswith("step_")] == [
        "step_start",
        "step_retry",
        "step_retry",
        "step_success",
        "step_complete",
    ]
    retries = [e for e in rec.events if e.type == "step_retry"]
    assert [(e.attempt, e.delay_s, e.error) for e in retries] == [(2, 0.1, "e1"), (3, 0.2, "e2")]


async def test_common_fields_and_context_on_every_event() -> None:
    rec = Recorder()
    clock = TestClock(start=1000.0)

    async def body(step: Step[str]) -> int:
        return await step(Ok(3), name="three")

    await run(body, on_event=rec, workflow_id="wf-1", context={"user": "u"}, clock=clock)
    assert all(e.workflow_id == "wf-1" for e in rec.events)
    assert all(e.context == {"user": "u"} for e in rec.events)
    assert all(ctx == {"user": "u"} for ctx in rec.contexts)
    assert all(e.ts == 1000.0 for e in rec.events)
    started = rec.events[0]
    assert isinstance(started, WorkflowStarted) and started.name is not None
    assert started.name.endswith("body")
    success = [e for e in rec.events if isinstance(e, StepSucceeded)]
    assert len(success) == 1 and success[0].value == 3 and success[0].name == "three"
    assert success[0].key is None
    end = rec.events[-1]
    assert isinstance(end, WorkflowSucceeded) and end.value == 3 and end.duration_s == 0.0


async def test_failure_events_carry_the_error() -> None:
    rec = Recorder()

    async def body(step: Step[str]) -> int:
        return await step(lambda: Err("nope"), key="k", name="n")

    await run(body, on_event=rec)
    failed = [e for e in rec.events if isinstance(e, StepFailed)]
    assert len(failed) == 1 and failed[0].error == "nope" and failed[0].key == "k"
    complete = [e for e in rec.events if isinstance(e, StepCompleted)]
    assert complete[0].result == Err("nope")
    assert complete[0].meta["name"] == "n"
    end = rec.events[-1]
    assert isinstance(end, WorkflowFailed) and end.error == "nope"


async def test_step_ids_are_unique_and_scopes_are_parents() -> None:
    rec = Recorder()

    async def body(step: Step[str]) -> tuple[int, int]:
        await step(Ok(0), name="first")
        return await step.all(lambda: Ok(1), lambda: Ok(2), name="pair")

    await run(body, on_event=rec)
    starts = [e for e in rec.events if isinstance(e, StepStarted)]
    ids = [e.step_id for e in starts]
    assert len(ids) == len(set(ids)) == 3
    scope = next(e for e in rec.events if isinstance(e, ScopeStarted))
    assert scope.kind == "all" and scope.name == "pair" and scope.parent_id is None
    assert starts[0].parent_id is None
    assert [s.parent_id for s in starts[1:]] == [scope.scope_id, scope.scope_id]
    assert [s.name for s in starts[1:]] == ["pair[0]", "pair[1]"]
    end = next(e for e in rec.events if isinstance(e, ScopeEnded))
    assert end.scope_id == scope.scope_id and end.ok is True


async def test_nested_scopes_chain_parent_ids() -> None:
    rec = Recorder()

    async def body(step: Step[str]) -> object:
        async def inner() -> Ok[tuple[int, int]]:
            return Ok(await step.all(lambda: Ok(1), lambda: Ok(2), name="inner"))

        return await step.all(inner, lambda: Ok(3), name="outer")

    await run(body, on_event=rec)
    scopes = {e.name: e for e in rec.events if isinstance(e, ScopeStarted)}
    outer_items = [
        e
        for e in rec.events
        if isinstance(e, StepStarted) and e.parent_id == scopes["outer"].scope_id
    ]
    assert len(outer_items) == 2
    # The inner scope was opened by the op of the outer scope's first item step.
    assert scopes["inner"].parent_id == outer_items[0].step_id
    inner_items = [
        e
        for e in rec.events
        if isinstance(e, StepStarted) and e.parent_id == scopes["inner"].scope_id
    ]
    assert len(inner_items) == 2


async def test_async_listener_is_awaited_in_order() -> None:
    seen: list[str] = []

    async def sink(event: WorkflowEvent, ctx: object) -> None:
        await asyncio.sleep(0)
        seen.append(event.type)

    async def body(step: Step[str]) -> int:
        return await step(Ok(1))

    await run(body, on_event=sink)
    assert seen == ["workflow_start", "step_start", "step_success", "workflow_success"]


async def test_a_raising_listener_never_breaks_the_run_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def sink(event: WorkflowEvent, ctx: object) -> None:
        raise RuntimeError("listener down")

    async def body(step: Step[str]) -> int:
        await step(Ok(1))
        return await step(Ok(2))

    with caplog.at_level(logging.WARNING, logger="resultflow"):
        result = await run(body, on_event=sink)
    assert result == Ok(2)
    warnings = [r for r in caplog.records if "listener raised" in r.getMessage()]
    assert len(warnings) == 1
    assert "listener down" in warnings[0].getMessage()


async def test_no_events_are_built_without_a_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    import resultflow._runtime.lifecycle as lifecycle

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("an event was built with nobody listening")

    for event in ("StepStarted", "StepSucceeded", "StepCompleted", "StepRetrying", "StepCacheMiss"):
        monkeypatch.setattr(lifecycle, event, forbidden)

    async def body(step: Step[str]) -> int:
        await step(lambda: Ok(1), key="k", retry=2)
        return await step(Ok(2))

    assert await run(body, cache=MemoryCache()) == Ok(2)


async def test_step_context_lets_helpers_emit_correlated_events() -> None:
    from resultflow.events import StepSkipped

    rec = Recorder()

    async def body(step: Step[str]) -> str:
        ctx = step.context
        assert ctx.on_event is rec
        await ctx.emit(
            StepSkipped(
                workflow_id=ctx.workflow_id,
                ts=ctx.now(),
                context=ctx.context,
                step_id=ctx.new_step_id(),
                name="audit",
                reason="disabled",
            )
        )
        return ctx.workflow_id

    result = await run(body, on_event=rec, workflow_id="wf-9", context={"tenant": "t"})
    assert result == Ok("wf-9")
    skipped = [e for e in rec.events if e.type == "step_skipped"]
    assert len(skipped) == 1 and skipped[0].workflow_id == "wf-9"
    assert rec.contexts[rec.events.index(skipped[0])] == {"tenant": "t"}

    async def unobserved(step: Step[str]) -> bool:
        await step.context.emit(rec.events[0])  # nobody listens: a no-op
        return step.context.on_event is None

    before = len(rec.events)
    assert await run(unobserved) == Ok(True)
    assert len(rec.events) == before


async def test_a_step_whose_nested_step_exits_the_run_still_gets_an_ending_event() -> None:
    rec = Recorder()

    async def body(step: Step[str]) -> int:
        async def outer_op() -> Ok[int]:
            inner = await step(Err("inner failed"), name="inner")
            return Ok(inner)

        return await step(outer_op, name="outer")

    assert await run(body, on_event=rec) == Err("inner failed")
    by_name = [(e.type, getattr(e, "name", None)) for e in rec.events]
    assert by_name[1:-1] == [
        ("step_start", "outer"),
        ("step_start", "inner"),
        ("step_error", "inner"),
        ("step_aborted", "outer"),
    ]
    aborted = rec.events[-2]
    assert aborted.type == "step_aborted" and aborted.reason == "a nested step exited the run"


async def test_steps_inside_a_steps_op_are_its_children() -> None:
    rec = Recorder()

    async def body(step: Step[str]) -> int:
        async def outer_op() -> Ok[int]:
            first = await step(lambda: Ok(1), name="inner-a")
            second = await step(lambda: Ok(2), name="inner-b")
            return Ok(first + second)

        total = await step(outer_op, name="outer")
        return total + await step(Ok(10), name="after")

    assert await run(body, on_event=rec) == Ok(13)
    starts = {e.name: e for e in rec.events if isinstance(e, StepStarted)}
    assert starts["outer"].parent_id is None
    assert starts["inner-a"].parent_id == starts["outer"].step_id
    assert starts["inner-b"].parent_id == starts["outer"].step_id
    assert starts["after"].parent_id is None  # the parent is reset once the step ends


async def test_a_raising_async_listener_never_breaks_the_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    async def sink(event: WorkflowEvent, ctx: object) -> None:
        seen.append(event.type)
        await asyncio.sleep(0)
        raise RuntimeError("async listener down")

    async def body(step: Step[str]) -> int:
        return await step(lambda: Ok(1), name="one")

    with caplog.at_level(logging.WARNING, logger="resultflow"):
        assert await run(body, on_event=sink) == Ok(1)
    assert seen == ["workflow_start", "step_start", "step_success", "workflow_success"]
    warnings = [r for r in caplog.records if "async listener down" in r.getMessage()]
    assert len(warnings) == 1
