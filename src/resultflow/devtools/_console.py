"""`console_logger`: an `on_event` sink printing one line per event.

```text
[resultflow] 3f2a9c1e workflow_start checkout
[resultflow] 3f2a9c1e step_retry charge attempt 1 failed, retrying in 100ms: ...
[resultflow] 3f2a9c1e step_success charge 412ms
```

Colors follow the convention of https://no-color.org: a non-empty `NO_COLOR`
environment variable turns them off, and so does a stream that is not a terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

from resultflow.devtools._describe import describe_event
from resultflow.events import WorkflowEvent

__all__ = ["SyncEventSink", "colors_enabled", "console_logger", "format_console_line"]

SyncEventSink = Callable[[WorkflowEvent, object], None]
"""A synchronous `on_event` sink."""

_RESET = "\x1b[0m"
_DIM = "\x1b[2m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_BLUE = "\x1b[34m"
_CYAN = "\x1b[36m"

_WARNING_TYPES = frozenset(
    {"step_retry", "step_aborted", "step_skipped", "workflow_skipped", "approval_pending"}
)
_FAILURE_TYPES = frozenset(
    {"step_timeout", "step_retries_exhausted", "workflow_cancelled", "approval_rejected"}
)
_QUIET_TYPES = frozenset({"step_cache_hit", "step_cache_miss", "step_complete"})


def console_logger(
    prefix: str = "[resultflow]", colors: bool = True, stream: TextIO | None = None
) -> SyncEventSink:
    """Return an `on_event` sink writing one line per event to `stream` (default stderr).

    `colors=True` colors the event type by outcome, unless `NO_COLOR` is set to a
    non-empty value or the stream is not a terminal (checked on every event, so a
    redirected or re-captured stderr is honoured).
    """

    def sink(event: WorkflowEvent, ctx: object = None) -> None:
        target = stream if stream is not None else sys.stderr
        line = format_console_line(event, prefix=prefix, colors=colors and colors_enabled(target))
        target.write(line + "\n")

    return sink


def format_console_line(event: WorkflowEvent, *, prefix: str, colors: bool) -> str:
    """The line `console_logger` writes for `event` (ANSI colors when `colors`)."""
    run_id = event.workflow_id[:8]
    description = describe_event(event)
    if not colors:
        return " ".join(part for part in (prefix, run_id, description) if part)
    event_type, _, rest = description.partition(" ")
    colored = f"{_color_for(event_type)}{event_type}{_RESET}"
    head = f"{_DIM}{prefix} {run_id}{_RESET}" if prefix else f"{_DIM}{run_id}{_RESET}"
    return f"{head} {colored} {rest}".rstrip()


def colors_enabled(stream: TextIO) -> bool:
    """True when ANSI colors suit `stream`: `NO_COLOR` unset or empty, and a terminal."""
    if os.environ.get("NO_COLOR", ""):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (OSError, ValueError):  # a closed or detached stream
        return False


def _color_for(event_type: str) -> str:
    if event_type in _FAILURE_TYPES or event_type.endswith("_error"):
        return _RED
    if event_type in _WARNING_TYPES:
        return _YELLOW
    if event_type in _QUIET_TYPES:
        return _BLUE
    if event_type.endswith(("_success", "_granted")):
        return _GREEN
    if event_type.endswith("_start"):
        return _CYAN
    return _DIM
