"""Devtools: see what a run did — trees, Mermaid diagrams, timelines, diffs, logs.

`Devtools` records runs from their events (pass `devtools.handle_event` as `on_event`)
and renders the last one; the same renderers take any `RunRecord`, whether recorded
live, imported from JSON or rebuilt from a durable execution's history with
`record_run(events)`. `console_logger` and `logging_sink` are ready-made sinks that
print or log one line per event.
"""

from resultflow.devtools._console import SyncEventSink, colors_enabled, console_logger
from resultflow.devtools._describe import describe_event, event_fields, format_duration
from resultflow.devtools._diff import RunDiff, StepChange, diff_runs, render_diff
from resultflow.devtools._export import RunImportError, export_run, import_run
from resultflow.devtools._history import NO_RUN_TEXT, Devtools
from resultflow.devtools._logsink import EVENT_LOGGER_NAME, logging_sink
from resultflow.devtools._mermaid import mermaid_label, render_mermaid
from resultflow.devtools._recorder import RunRecorder, record_run
from resultflow.devtools._records import (
    Node,
    RunRecord,
    RunStatus,
    ScopeRecord,
    ScopeStatus,
    StepRecord,
    StepStatus,
)
from resultflow.devtools._timeline import TimelineEntry, render_timeline, timeline
from resultflow.devtools._tree import render_tree

__all__ = [
    "EVENT_LOGGER_NAME",
    "NO_RUN_TEXT",
    "Devtools",
    "Node",
    "RunDiff",
    "RunImportError",
    "RunRecord",
    "RunRecorder",
    "RunStatus",
    "ScopeRecord",
    "ScopeStatus",
    "StepChange",
    "StepRecord",
    "StepStatus",
    "SyncEventSink",
    "TimelineEntry",
    "colors_enabled",
    "console_logger",
    "describe_event",
    "diff_runs",
    "event_fields",
    "export_run",
    "format_duration",
    "import_run",
    "logging_sink",
    "mermaid_label",
    "record_run",
    "render_diff",
    "render_mermaid",
    "render_timeline",
    "render_tree",
    "timeline",
]
