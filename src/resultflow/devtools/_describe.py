"""Text for people and fields for machines: how devtools describe events, errors and times.

`describe_event` is the one-line text the console logger prints and the logging sink
uses as its message; `event_fields` is the JSON-friendly dict the logging sink attaches
to its records. Values and errors are described, never serialized wholesale, so a large
step value cannot flood a log, nor cost a full `repr` on every event: containers are cut
after a few items while they are formatted, and a `__repr__` that raises is replaced by
a placeholder instead of breaking the sink.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Mapping
from typing import cast

from resultflow.errors import TaggedError, UnexpectedError
from resultflow.events import (
    ApprovalAwaited,
    ApprovalDenied,
    ApprovalGranted,
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    HookAfterStep,
    HookAfterStepError,
    HookBeforeStart,
    HookBeforeStartError,
    HookBeforeStepError,
    HookShouldRun,
    HookShouldRunError,
    ScopeEnded,
    ScopeStarted,
    StepAborted,
    StepCacheHit,
    StepCacheMiss,
    StepCompleted,
    StepEventBase,
    StepFailed,
    StepRetriesExhausted,
    StepRetrying,
    StepSkipped,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    WorkflowCancelled,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowSkipped,
    WorkflowStarted,
    WorkflowSucceeded,
)
from resultflow.result import Err, Ok

__all__ = [
    "describe_event",
    "describe_value",
    "error_summary",
    "error_tag",
    "event_fields",
    "format_duration",
]

_MAX_TEXT = 120

# Bounded repr: stops formatting containers after a few items (and strings, numbers and
# other objects after _MAX_TEXT characters) instead of formatting everything first.
_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxdict = 8
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = 12
_REPR.maxdeque = _REPR.maxarray = 12
_REPR.maxstring = _REPR.maxlong = _REPR.maxother = _MAX_TEXT


def format_duration(seconds: float) -> str:
    """Format a duration for people: `"0.35ms"`, `"120ms"`, `"1.25s"`, `"2m05.0s"`."""
    if not math.isfinite(seconds):
        return "?"
    if seconds == 0:
        return "0ms"
    if seconds < 0.01:
        return f"{seconds * 1000:.2f}ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:04.1f}s"


def error_tag(error: object) -> str:
    """A short, stable name for an error value: its tag, else its class name."""
    if isinstance(error, TaggedError):
        return error.tag
    if isinstance(error, BaseException):
        return type(error).__name__
    return type(error).__name__


def error_summary(error: object) -> str:
    """One line describing an error value: `"Tag: message"` for a `TaggedError`.

    (The text devtools shows; `resultflow.otel.describe_error` gives the span fields.)
    """
    if isinstance(error, UnexpectedError):
        text = f"{error.tag}: {error.exception_type}: {error.message}"
    elif isinstance(error, TaggedError):
        message = error.message
        text = message if message.startswith(error.tag) else f"{error.tag}: {message}"
    elif isinstance(error, BaseException):
        text = f"{type(error).__name__}: {error}"
    elif isinstance(error, str):
        text = error
    else:
        text = _REPR.repr(error)
    return _shorten(" ".join(text.split()))


def describe_value(value: object) -> str:
    """A bounded `repr` of a value, for logs (cheap even for a huge value)."""
    return _shorten(_REPR.repr(value))


def describe_event(event: WorkflowEvent) -> str:
    """One line of text for an event: its wire type, the step or run, and what happened.

    Always a single line: line breaks and other whitespace in names or keys taken from
    user data become single spaces, so a crafted step name cannot forge log lines.
    """
    subject = _subject(event)
    detail = _detail(event)
    parts: list[str] = [event.type]
    if subject:
        parts.append(subject)
    if detail:
        parts.append(detail)
    return " ".join(" ".join(parts).split())


def event_fields(event: WorkflowEvent) -> dict[str, object]:
    """The event as a JSON-friendly dict: plain fields kept, errors and values described.

    Errors become `{"tag": ..., "message": ...}`, values and results a bounded `repr`,
    and the user's `context` its `repr` (it may hold anything).
    """
    fields: dict[str, object] = {"type": event.type}
    for field in dataclasses.fields(event):
        if field.name == "type":
            continue
        fields[field.name] = _jsonable(field.name, getattr(event, field.name))
    return fields


# -- helpers --------------------------------------------------------------------------
def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _jsonable(name: str, value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value if name not in {"value", "context"} else _value_or_none(value)
    if name == "error":
        return {"tag": error_tag(value), "message": error_summary(value)}
    if isinstance(value, Ok | Err):
        return _result_fields(cast("Ok[object] | Err[object]", value))
    if name == "meta" and isinstance(value, Mapping):
        return _meta_fields(cast("Mapping[object, object]", value))
    return describe_value(value)


def _meta_fields(meta: Mapping[object, object]) -> dict[str, object]:
    return {str(key): describe_value(item) for key, item in meta.items()}


def _result_fields(result: Ok[object] | Err[object]) -> dict[str, object]:
    if isinstance(result, Ok):
        return {"ok": True, "value": describe_value(result.value)}
    return {
        "ok": False,
        "error": {"tag": error_tag(result.error), "message": error_summary(result.error)},
    }


def _value_or_none(value: object) -> object:
    return None if value is None else describe_value(value)


def _subject(event: WorkflowEvent) -> str:
    if isinstance(event, StepEventBase):
        label = event.name or event.key or event.step_id
        if event.key is not None and event.key != label:
            return f"{label} (key={event.key})"
        return label
    if isinstance(event, ScopeStarted | ScopeEnded):
        return f"{event.kind} {event.name}" if event.name else event.kind
    if isinstance(event, CompensationStarted | CompensationSucceeded | CompensationFailed):
        return event.name
    if isinstance(event, ApprovalAwaited | ApprovalGranted | ApprovalDenied):
        return event.key
    if isinstance(event, HookAfterStep | HookAfterStepError):
        return f"key={event.key}"
    if isinstance(event, HookBeforeStepError):
        return event.step_id
    if isinstance(event, WorkflowStarted):
        return event.name or event.workflow_id
    return ""


def _detail(event: WorkflowEvent) -> str:
    match event:
        case WorkflowSucceeded() | StepSucceeded() | CompensationSucceeded():
            return format_duration(event.duration_s)
        case WorkflowFailed() | StepFailed() | CompensationFailed():
            return f"{format_duration(event.duration_s)} {error_summary(event.error)}"
        case WorkflowCancelled():
            reason = f" ({event.reason})" if event.reason else ""
            return f"{format_duration(event.duration_s)}{reason}"
        case WorkflowSkipped():
            return f"reason={event.reason}"
        case StepRetrying():
            # `attempt` is the number of the attempt about to run.
            return (
                f"attempt {event.attempt} in {format_duration(event.delay_s)} "
                f"after {error_summary(event.error)}"
            )
        case StepRetriesExhausted():
            return f"after {event.attempts} attempts: {error_summary(event.error)}"
        case StepTimedOut():
            return f"after {format_duration(event.seconds)} (attempt {event.attempt})"
        case StepSkipped() | StepAborted():
            return f"reason={event.reason}" if event.reason else ""
        case StepCompleted():
            return "ok" if isinstance(event.result, Ok) else "err"
        case ScopeEnded():
            return f"{format_duration(event.duration_s)} {'ok' if event.ok else 'failed'}"
        case HookShouldRun() | HookBeforeStart() | HookAfterStep():
            return f"{format_duration(event.duration_s)} -> {describe_value(event.result)}"
        case (
            HookShouldRunError()
            | HookBeforeStartError()
            | HookAfterStepError()
            | HookBeforeStepError()
        ):
            return f"{format_duration(event.duration_s)} {error_summary(event.error)}"
        case ApprovalAwaited() | ApprovalDenied():
            return f"reason={event.reason}" if event.reason else ""
        case (
            WorkflowStarted()
            | StepStarted()
            | StepCacheHit()
            | StepCacheMiss()
            | ScopeStarted()
            | CompensationStarted()
            | ApprovalGranted()
        ):
            return ""
