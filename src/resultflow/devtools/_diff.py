"""`diff_runs` and `render_diff`: what changed between two runs of a workflow.

Steps are matched by their label (name, else key, else step id); a label used several
times in a run is matched occurrence by occurrence (the second `fetch` of one run with
the second `fetch` of the other). A step counts as changed when its status differs or
its duration moved by more than the threshold.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from resultflow.devtools._describe import format_duration
from resultflow.devtools._records import RunRecord, StepRecord, StepStatus

__all__ = ["RunDiff", "StepChange", "diff_runs", "render_diff"]

_MIN_DURATION_CHANGE_S = 0.001


@dataclass(frozen=True, slots=True)
class StepChange:
    """A step present in both runs whose status or duration changed."""

    name: str
    status_before: StepStatus
    status_after: StepStatus
    duration_before_s: float | None
    duration_after_s: float | None

    @property
    def status_changed(self) -> bool:
        """True when the step ended differently."""
        return self.status_before != self.status_after


@dataclass(frozen=True, slots=True)
class RunDiff:
    """Steps only in the newer run (`added`), only in the older (`removed`), and `changed`."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[StepChange, ...]

    @property
    def empty(self) -> bool:
        """True when the two runs had the same steps with the same outcomes."""
        return not (self.added or self.removed or self.changed)


def diff_runs(before: RunRecord, after: RunRecord, *, duration_threshold: float = 0.2) -> RunDiff:
    """Compare two runs step by step.

    A duration counts as changed when it moved by at least `duration_threshold` of the
    earlier duration (20% by default) and by at least 1 ms, so timing noise is ignored.
    """
    if duration_threshold < 0:
        raise ValueError(f"duration_threshold must be >= 0, got {duration_threshold}")
    old = _by_occurrence(before.steps)
    new = _by_occurrence(after.steps)
    added = tuple(identity[0] for identity in new if identity not in old)
    removed = tuple(identity[0] for identity in old if identity not in new)
    changed: list[StepChange] = []
    for identity, step_after in new.items():
        step_before = old.get(identity)
        if step_before is None:
            continue
        change = StepChange(
            name=identity[0],
            status_before=step_before.status,
            status_after=step_after.status,
            duration_before_s=step_before.duration_s,
            duration_after_s=step_after.duration_s,
        )
        if change.status_changed or _duration_changed(change, duration_threshold):
            changed.append(change)
    return RunDiff(added=added, removed=removed, changed=tuple(changed))


def render_diff(diff: RunDiff | None) -> str:
    """Render a diff as text: `+` added, `-` removed, `~` changed, one step per line."""
    if diff is None:
        return "no previous run to compare with"
    if diff.empty:
        return "no changes"
    lines = [f"+ {name}" for name in diff.added]
    lines += [f"- {name}" for name in diff.removed]
    lines += [f"~ {_describe_change(change)}" for change in diff.changed]
    return "\n".join(lines)


def _by_occurrence(steps: tuple[StepRecord, ...]) -> dict[tuple[str, int], StepRecord]:
    seen: Counter[str] = Counter()
    indexed: dict[tuple[str, int], StepRecord] = {}
    for step in steps:
        indexed[(step.label, seen[step.label])] = step
        seen[step.label] += 1
    return indexed


def _duration_changed(change: StepChange, threshold: float) -> bool:
    before, after = change.duration_before_s, change.duration_after_s
    if before is None or after is None:
        return (before is None) != (after is None)
    delta = abs(after - before)
    return delta >= _MIN_DURATION_CHANGE_S and delta >= threshold * before


def _describe_change(change: StepChange) -> str:
    parts: list[str] = []
    if change.status_changed:
        parts.append(f"{change.status_before} -> {change.status_after}")
    before, after = change.duration_before_s, change.duration_after_s
    if before is not None and after is not None and abs(after - before) < _MIN_DURATION_CHANGE_S:
        parts.append(format_duration(after))
    elif before is not None and after is not None:
        sign = "+" if after >= before else "-"
        parts.append(
            f"{format_duration(before)} -> {format_duration(after)} "
            f"({sign}{format_duration(abs(after - before))})"
        )
    elif before != after:
        parts.append(f"{_maybe(before)} -> {_maybe(after)}")
    return f"{change.name}: {', '.join(parts)}"


def _maybe(duration: float | None) -> str:
    return "-" if duration is None else format_duration(duration)
