"""`Devtools`: an `on_event` sink that keeps the last runs and renders them.

```python
devtools = Devtools()
await run(checkout, order_id, on_event=devtools.handle_event)
print(devtools.render())            # ASCII tree
print(devtools.render_timeline())   # Gantt-like bars
```

Every render method draws the latest run unless given another `RunRecord` (from
`runs()`, `import_run` or a durable execution's history).
"""

from __future__ import annotations

from dataclasses import replace

from resultflow.devtools._diff import RunDiff, diff_runs, render_diff
from resultflow.devtools._export import export_run, import_run
from resultflow.devtools._mermaid import render_mermaid
from resultflow.devtools._recorder import RunRecorder
from resultflow.devtools._records import RunRecord
from resultflow.devtools._timeline import TimelineEntry, render_timeline, timeline
from resultflow.devtools._tree import render_tree
from resultflow.events import (
    HookBeforeStart,
    HookBeforeStartError,
    HookShouldRun,
    HookShouldRunError,
    WorkflowEvent,
    WorkflowStarted,
)

__all__ = ["Devtools", "NO_RUN_TEXT"]

NO_RUN_TEXT = "(no run recorded)"
"""What the text renders return before any run was recorded."""

# Hooks run before `workflow_start`; they open no run of their own.
_PRE_START_EVENTS = (HookShouldRun, HookShouldRunError, HookBeforeStart, HookBeforeStartError)


class Devtools:
    """Records runs from their events and renders them as trees, diagrams and timelines.

    Pass `devtools.handle_event` as `on_event`. A `workflow_start` begins a new run;
    events are routed by `workflow_id`, so concurrent runs sharing one `Devtools` stay
    apart. At most `max_history` runs are kept: when one more arrives, the oldest
    finished (or imported) run is dropped, and a run still in progress only when every
    other run is in progress too, so a long run is not cut short by quicker runs that
    started after it.

    `workflow_name`, when given, names every run this Devtools records or imports (it
    wins over the body's name and `run(..., name=)`), so `diff_with_previous()`
    compares consecutive runs of this Devtools, local or imported, even when their
    bodies are different functions. Without it, runs are named by their
    `workflow_start` and only runs of the same name are compared.
    """

    def __init__(self, workflow_name: str | None = None, max_history: int = 10) -> None:
        """Create an empty recorder keeping at most `max_history` runs."""
        if max_history < 1:
            raise ValueError(f"max_history must be at least 1, got {max_history}")
        self.workflow_name = workflow_name
        self.max_history = max_history
        self._history: list[RunRecorder | RunRecord] = []

    # -- recording --------------------------------------------------------------------
    def handle_event(self, event: WorkflowEvent, ctx: object = None) -> None:
        """Record one event (the `on_event` sink signature: `sink(event, context)`)."""
        if isinstance(event, WorkflowStarted):
            self._add(self._recorder(event))
        recorder = self._recorder_for(event.workflow_id)
        if recorder is None:
            if isinstance(event, _PRE_START_EVENTS):
                return
            # A run seen mid-way (no workflow_start): record it from here on.
            recorder = self._recorder(event)
            self._add(recorder)
        recorder.add(event)

    def import_run(self, text: str | bytes) -> RunRecord:
        """Add a run exported by `export_run` to the history and return it.

        With an explicit `workflow_name` the run is renamed to it, so it is compared with
        this Devtools' local runs. Raises `RunImportError` (a ValueError) when `text` is
        not a valid export.
        """
        run = import_run(text)
        if self.workflow_name is not None:
            run = replace(run, name=self.workflow_name)
        self._add(run)
        return run

    def clear(self) -> None:
        """Forget every recorded run."""
        self._history.clear()

    # -- access -----------------------------------------------------------------------
    def runs(self) -> tuple[RunRecord, ...]:
        """The recorded runs, oldest first (runs in progress included, as recorded so far)."""
        return tuple(_snapshot(entry) for entry in self._history)

    def last_run(self) -> RunRecord | None:
        """The most recently started (or imported) run, or None."""
        return _snapshot(self._history[-1]) if self._history else None

    # -- renders ----------------------------------------------------------------------
    def render(self, run: RunRecord | None = None) -> str:
        """The run (default: the last) as an ASCII tree with status marks and durations."""
        chosen = run if run is not None else self.last_run()
        return render_tree(chosen) if chosen is not None else NO_RUN_TEXT

    def render_mermaid(self, run: RunRecord | None = None) -> str:
        """The run (default: the last) as a Mermaid flowchart."""
        chosen = run if run is not None else self.last_run()
        if chosen is None:
            return f'flowchart TD\n  empty["{NO_RUN_TEXT}"]'
        return render_mermaid(chosen)

    def render_timeline(self, run: RunRecord | None = None, *, width: int = 40) -> str:
        """The run (default: the last) as Gantt-like text bars, one row per step."""
        chosen = run if run is not None else self.last_run()
        return render_timeline(chosen, width=width) if chosen is not None else NO_RUN_TEXT

    def timeline(self, run: RunRecord | None = None) -> list[TimelineEntry]:
        """The steps of the run (default: the last) with times relative to its start."""
        chosen = run if run is not None else self.last_run()
        return timeline(chosen) if chosen is not None else []

    def diff_with_previous(self, *, duration_threshold: float = 0.2) -> RunDiff | None:
        """Compare the last run with the previous run of the same name; None if none.

        With an explicit `workflow_name` every run has that name, so this is the run
        recorded (or imported) just before the last one.
        """
        runs = self.runs()
        if not runs:
            return None
        last = runs[-1]
        for earlier in reversed(runs[:-1]):
            if earlier.name == last.name:
                return diff_runs(earlier, last, duration_threshold=duration_threshold)
        return None

    def render_diff(self, diff: RunDiff | None) -> str:
        """A diff as text: `+` added, `-` removed, `~` changed steps."""
        return render_diff(diff)

    def export_run(self, run: RunRecord | None = None, *, indent: int | None = None) -> str:
        """The run (default: the last) as a JSON string for `import_run`.

        Raises LookupError when no run was recorded.
        """
        chosen = run if run is not None else self.last_run()
        if chosen is None:
            raise LookupError("no run recorded yet; nothing to export")
        return export_run(chosen, indent=indent)

    # -- internals --------------------------------------------------------------------
    def _recorder(self, first: WorkflowEvent) -> RunRecorder:
        return RunRecorder(first, name=self.workflow_name, name_wins=True)

    def _add(self, entry: RunRecorder | RunRecord) -> None:
        self._history.append(entry)
        if len(self._history) <= self.max_history:
            return
        # Drop the oldest run that is no longer recording; the new entry always stays.
        for index, old in enumerate(self._history[:-1]):
            if not (isinstance(old, RunRecorder) and not old.finished):
                del self._history[index]
                return
        del self._history[0]

    def _recorder_for(self, workflow_id: str) -> RunRecorder | None:
        # Prefer a run still in progress; a finished one still takes late events.
        finished: RunRecorder | None = None
        for entry in reversed(self._history):
            if isinstance(entry, RunRecorder) and entry.workflow_id == workflow_id:
                if not entry.finished:
                    return entry
                finished = finished or entry
        return finished


def _snapshot(entry: RunRecorder | RunRecord) -> RunRecord:
    return entry if isinstance(entry, RunRecord) else entry.record()
