"""`timeline` and `render_timeline`: when each step of a run ran, as data and as text bars.

```text
checkout: 1.25s, ok
load-user  |====                                    |     0ms  100ms ok
charge     |    ================                    |   100ms  400ms ok (2 retries)
price      |                    *                   |   500ms    0ms cached
```

Bars are scaled to the run: the full width is the run's duration. A step too short for
one column still gets one, so nothing that ran is invisible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from resultflow.devtools._describe import format_duration
from resultflow.devtools._records import RunRecord, StepRecord, StepStatus
from resultflow.devtools._tree import status_mark

__all__ = ["TimelineEntry", "render_timeline", "timeline"]

_BAR_CHARS: dict[str, str] = {
    "success": "=",
    "error": "x",
    "cached": "*",
    "skipped": "-",
    "aborted": "~",
    "running": ">",
}
_MAX_NAME = 24
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One step on a run's timeline; times are seconds since the run started.

    `end_s` is None for a step that has not finished.
    """

    name: str
    start_s: float
    end_s: float | None
    status: StepStatus


def timeline(run: RunRecord) -> list[TimelineEntry]:
    """The steps of `run` in the order they started, with times relative to its start."""
    return [
        TimelineEntry(
            name=step.label,
            start_s=_relative(step.start_ts, run.started_at),
            end_s=None if step.end_ts is None else _relative(step.end_ts, run.started_at),
            status=step.status,
        )
        for step in _steps_by_start(run)
    ]


def render_timeline(run: RunRecord, *, width: int = 40) -> str:
    """Render `run` as Gantt-like text: one row per step, bars scaled to the run.

    Each row shows the bar, the start offset, the duration and the status. Bar
    characters tell the status too: `=` ok, `x` error, `*` cache hit, `-` skipped,
    `~` aborted, `>` still running.
    """
    if width < 10:
        raise ValueError(f"width must be at least 10 columns, got {width}")
    steps = _steps_by_start(run)
    total = _relative(run.end_or_last_ts(), run.started_at)
    header = f"{run.label}: {format_duration(total)}, {status_mark(run.status)}"
    if not steps:
        return f"{header}\n(no steps)"
    names = [_fit(step.label) for step in steps]
    name_width = max(len(name) for name in names)
    rows = [header]
    for name, step in zip(names, steps, strict=True):
        rows.append(
            f"{name:<{name_width}} |{_bar(step, run, total, width)}| {_row_text(step, run)}"
        )
    return "\n".join(rows)


def _steps_by_start(run: RunRecord) -> list[StepRecord]:
    # sorted() is stable: steps that started together keep the order they appeared in.
    return sorted(run.steps, key=lambda step: step.start_ts)


def _relative(ts: float, origin: float) -> float:
    # Rounded to microseconds so float noise from epoch-sized timestamps disappears.
    return round(max(ts - origin, 0.0), 6)


def _fit(name: str) -> str:
    flat = " ".join(name.split())
    return flat if len(flat) <= _MAX_NAME else flat[: _MAX_NAME - 3] + "..."


def _bar(step: StepRecord, run: RunRecord, total: float, width: int) -> str:
    start = _relative(step.start_ts, run.started_at)
    end = _relative(
        step.end_ts if step.end_ts is not None else run.end_or_last_ts(), run.started_at
    )
    if total <= 0:
        first, last = 0, 1
    else:
        # The epsilon keeps float noise (0.1 / 0.8 * 40 = 5.000000000000001) off the grid.
        first = min(int(start / total * width + _EPSILON), width - 1)
        last = min(max(math.ceil(end / total * width - _EPSILON), first + 1), width)
    char = _BAR_CHARS.get(step.status, "=")
    return " " * first + char * (last - first) + " " * (width - last)


def _row_text(step: StepRecord, run: RunRecord) -> str:
    start = format_duration(_relative(step.start_ts, run.started_at))
    if step.end_ts is None:
        duration = "..."
    else:
        measured = step.duration_s if step.duration_s is not None else step.end_ts - step.start_ts
        duration = format_duration(measured)
    text = f"{start:>8} {duration:>8} {status_mark(step.status)}"
    if step.retries:
        text += f" ({step.retries} {'retry' if step.retries == 1 else 'retries'})"
    return text
