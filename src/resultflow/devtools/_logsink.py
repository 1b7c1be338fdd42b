"""`logging_sink`: an `on_event` sink that emits one structured `logging` record per event.

The record's message is the event's one-line description; its structured data travel
in `extra`, so they become attributes of the `LogRecord`:

- `resultflow_event`: the event as a JSON-friendly dict (`event_fields`);
- `resultflow_event_type`: the event's wire type (`"step_success"`, ...);
- `resultflow_workflow_id`: the run's id.

structlog's stdlib integration picks them up with `structlog.stdlib.ExtraAdder` in a
`ProcessorFormatter`'s `foreign_pre_chain`; a JSON formatter for `logging` sees them
as ordinary record attributes.
"""

from __future__ import annotations

import logging

from resultflow.devtools._console import SyncEventSink
from resultflow.devtools._describe import describe_event, event_fields
from resultflow.events import WorkflowEvent

__all__ = ["EVENT_LOGGER_NAME", "logging_sink"]

EVENT_LOGGER_NAME = "resultflow.events"
"""The logger `logging_sink` uses when none is given."""


def logging_sink(logger: logging.Logger | None = None, level: int = logging.INFO) -> SyncEventSink:
    """Return an `on_event` sink logging each event at `level` on `logger`.

    The default logger is `logging.getLogger("resultflow.events")`.
    """
    target = logger if logger is not None else logging.getLogger(EVENT_LOGGER_NAME)

    def sink(event: WorkflowEvent, ctx: object = None) -> None:
        if not target.isEnabledFor(level):
            return
        target.log(
            level,
            describe_event(event),
            extra={
                "resultflow_event": event_fields(event),
                "resultflow_event_type": event.type,
                "resultflow_workflow_id": event.workflow_id,
            },
        )

    return sink
