"""Type-checked usage of resultflow.devtools (never executed)."""

from __future__ import annotations

import logging
from typing import assert_type

from resultflow import EventSink, Ok, Step, run
from resultflow.devtools import (
    Devtools,
    RunDiff,
    RunRecord,
    StepStatus,
    TimelineEntry,
    console_logger,
    diff_runs,
    logging_sink,
    record_run,
)
from resultflow.errors import TaggedError
from resultflow.events import WorkflowEvent


class Missing(TaggedError):
    id: str


async def body(step: Step[Missing]) -> int:
    return await step(lambda: Ok(1), name="one")


async def usage(events: list[WorkflowEvent]) -> None:
    devtools = Devtools(workflow_name="checkout", max_history=5)
    # Every devtools sink is an `on_event` listener.
    sinks: list[EventSink] = [devtools.handle_event, console_logger(), logging_sink()]
    for sink in sinks:
        await run(body, on_event=sink)
    await run(body, on_event=logging_sink(logging.getLogger("app"), level=logging.DEBUG))

    assert_type(devtools.render(), str)
    assert_type(devtools.render_mermaid(), str)
    assert_type(devtools.render_timeline(width=60), str)
    assert_type(devtools.timeline(), list[TimelineEntry])
    assert_type(devtools.diff_with_previous(), RunDiff | None)
    assert_type(devtools.render_diff(devtools.diff_with_previous()), str)
    assert_type(devtools.export_run(), str)
    assert_type(devtools.import_run("{}"), RunRecord)
    assert_type(devtools.runs(), tuple[RunRecord, ...])
    assert_type(devtools.last_run(), RunRecord | None)

    run_record = record_run(events)
    for entry in devtools.timeline(run_record):
        assert_type(entry.status, StepStatus)
        assert_type(entry.end_s, float | None)
    diff = diff_runs(run_record, run_record)
    assert_type(diff.added, tuple[str, ...])
