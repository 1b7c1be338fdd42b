"""`run` and `run_sync` emit the same events in the same order, for every shared variant.

Each scenario is written once, as data (the step method, its arguments, its options);
an async body awaits each call, a sync body makes it. Both run with the same options
(a test clock, a fresh cache, hooks, resume state), and the event streams are compared
field by field, leaving out only timings (`ts`, `duration_s`, the `meta` with its
`completed_at`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from resultflow import (
    CacheEntry,
    Err,
    MemoryCache,
    Ok,
    SyncStep,
    run,
    run_sync,
)
from resultflow._runtime.step import Step
from resultflow.events import WorkflowEvent
from resultflow.reliability._retry import RetryPolicy
from resultflow.resume import StepCollector
from resultflow.testing._clock import TestClock

Call = tuple[str, tuple[Any, ...], dict[str, Any]]


class Flaky:
    """Fails `failures` times with Err(error), then returns Ok(value). Sync, so both run it."""

    def __init__(self, failures: int, value: object = "ok", error: object = "flaky") -> None:
        self.failures = failures
        self.value = value
        self.error = error
        self.calls = 0

    def __call__(self) -> Ok[object] | Err[object]:
        self.calls += 1
        return Err(self.error) if self.calls <= self.failures else Ok(self.value)


def boom() -> Ok[int]:
    raise ValueError("boom")


def scenarios() -> dict[str, list[Call]]:
    """Every variant both step runners have; fresh stateful ops on each call."""
    no_jitter = RetryPolicy(attempts=3, initial=0.5, jitter=False)
    return {
        "plain ops": [
            ("__call__", (Ok(1),), {}),
            ("__call__", (lambda: Ok(2),), {"name": "thunk"}),
            ("__call__", (lambda: Ok(3),), {"key": "k3"}),
            ("__call__", (lambda: Ok(4),), {"key": "k3"}),  # same key: a cache hit
        ],
        "try_ and from_result": [
            ("try_", (lambda: 5,), {"error": "never", "name": "try"}),
            ("from_result", (lambda: Ok(6),), {"on_error": str, "key": "fr"}),
        ],
        "retries that succeed": [
            ("__call__", (Flaky(2),), {"retry": no_jitter, "name": "flaky", "key": "f"}),
            ("retry", (Flaky(1),), {"attempts": 2, "jitter": False, "name": "shorthand"}),
        ],
        "retries exhausted": [
            ("__call__", (Flaky(5),), {"retry": no_jitter, "name": "flaky"}),
        ],
        "sleep": [
            ("sleep", (2.5,), {"key": "nap"}),
            ("sleep", (1.0,), {}),
        ],
        "fail": [
            ("__call__", (Ok(1),), {}),
            ("fail", ("stop here",), {}),
        ],
        "an Err exits": [
            ("__call__", (lambda: Err("bad"),), {"key": "bad", "name": "bad"}),
            ("__call__", (Ok(1),), {}),
        ],
        "try_ maps an exception": [
            ("try_", (boom,), {"on_error": lambda exc: f"mapped {exc}", "key": "t"}),
        ],
        "an exception is unexpected": [
            ("__call__", (boom,), {"name": "raises"}),
        ],
        "from_result maps an Err": [
            ("from_result", (lambda: Err(404),), {"on_error": lambda code: f"http {code}"}),
        ],
    }


def async_body(calls: list[Call]) -> Callable[[Step[Any]], Any]:
    async def body(step: Step[Any]) -> list[object]:
        return [await getattr(step, method)(*args, **kwargs) for method, args, kwargs in calls]

    return body


def sync_body(calls: list[Call]) -> Callable[[SyncStep[Any]], Any]:
    def body(step: SyncStep[Any]) -> list[object]:
        return [getattr(step, method)(*args, **kwargs) for method, args, kwargs in calls]

    return body


def essence(event: WorkflowEvent) -> dict[str, object]:
    """The event without its timings."""
    return {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if f.name not in {"ts", "duration_s", "meta"}
    }


def hooks(log: list[str]) -> dict[str, Any]:
    def before(info: object, ctx: object) -> None:
        log.append(f"before {info}")

    def after(key: str, result: object, workflow_id: str, ctx: object) -> str:
        log.append(f"after {key} {result}")
        return "noted"

    return {"on_before_step": before, "on_after_step": after}


async def both(
    name: str, options: Callable[[], dict[str, Any]]
) -> tuple[tuple[object, list[dict[str, object]]], tuple[object, list[dict[str, object]]]]:
    """Run scenario `name` through `run` and `run_sync`: each one's result and events."""
    streams: list[list[WorkflowEvent]] = [[], []]
    async_result = await run(
        async_body(scenarios()[name]),
        workflow_id="wf",
        name="parity",
        clock=TestClock(),
        on_event=lambda event, ctx: streams[0].append(event),
        **options(),
    )
    sync_result = run_sync(
        sync_body(scenarios()[name]),
        workflow_id="wf",
        name="parity",
        clock=TestClock(),
        on_event=lambda event, ctx: streams[1].append(event),
        **options(),
    )
    return (
        (async_result, [essence(e) for e in streams[0]]),
        (sync_result, [essence(e) for e in streams[1]]),
    )


@pytest.mark.parametrize("name", list(scenarios()))
async def test_run_and_run_sync_emit_the_same_events(name: str) -> None:
    (async_result, async_events), (sync_result, sync_events) = await both(
        name, lambda: {"cache": MemoryCache()}
    )
    assert async_result == sync_result
    assert [e["type"] for e in async_events] == [e["type"] for e in sync_events]
    assert async_events == sync_events
    assert async_events[0]["type"] == "workflow_start"


@pytest.mark.parametrize("name", list(scenarios()))
async def test_hooks_see_the_same_steps_in_the_same_order(name: str) -> None:
    logs: list[list[str]] = [[], []]
    turn = iter(logs)
    (async_result, async_events), (sync_result, sync_events) = await both(
        name, lambda: hooks(next(turn))
    )
    assert async_result == sync_result
    assert async_events == sync_events
    assert logs[0] == logs[1]


async def test_resumed_runs_emit_the_same_events() -> None:
    collected: list[dict[str, CacheEntry]] = []
    for runner in ("async", "sync"):
        collector = StepCollector()
        body_calls = scenarios()["retries that succeed"]
        if runner == "async":
            await run(async_body(body_calls), clock=TestClock(), on_event=collector.handle_event)
        else:
            run_sync(sync_body(body_calls), clock=TestClock(), on_event=collector.handle_event)
        collected.append(dict(collector.state()))
    assert collected[0].keys() == collected[1].keys() == {"f"}
    assert collected[0]["f"].result == collected[1]["f"].result == Ok("ok")

    (async_result, async_events), (sync_result, sync_events) = await both(
        "retries that succeed", lambda: {"resume_state": collected[0]}
    )
    assert async_result == sync_result == Ok(["ok", "ok"])
    assert async_events == sync_events
    assert "step_cache_hit" in [e["type"] for e in async_events]


async def test_skipped_runs_emit_the_same_events() -> None:
    (async_result, async_events), (sync_result, sync_events) = await both(
        "plain ops", lambda: {"should_run": lambda workflow_id, ctx: False}
    )
    assert async_result == sync_result
    assert async_events == sync_events
    assert [e["type"] for e in async_events] == ["hook_should_run", "workflow_skipped"]


async def test_a_step_nested_in_an_op_has_the_same_parent_under_both() -> None:
    events: list[list[str | None]] = [[], []]

    async def async_body(step: Step[str]) -> int:
        async def outer() -> Ok[int]:
            return Ok(await step(Ok(1), name="inner") + 1)

        return await step(outer, name="outer")

    def sync_body(step: SyncStep[str]) -> int:
        def outer() -> Ok[int]:
            return Ok(step(Ok(1), name="inner") + 1)

        return step(outer, name="outer")

    def parents(sink: list[str | None]) -> Callable[[WorkflowEvent, object], None]:
        def record(event: WorkflowEvent, ctx: object) -> None:
            if event.type == "step_start":
                sink.append(f"{event.name}<{event.parent_id}")

        return record

    assert await run(async_body, on_event=parents(events[0])) == Ok(2)
    assert run_sync(sync_body, on_event=parents(events[1])) == Ok(2)
    assert events[0] == events[1] == ["outer<None", "inner<s1"]
