"""diff_with_previous / diff_runs / render_diff."""

from __future__ import annotations

import pytest

from resultflow.devtools import Devtools, RunDiff, StepChange, diff_runs, record_run, render_diff
from resultflow.events import WorkflowEvent


def _devtools(*runs: list[WorkflowEvent]) -> Devtools:
    devtools = Devtools()
    for events in runs:
        for event in events:
            devtools.handle_event(event)
    return devtools


def test_diff_with_previous_lists_added_removed_and_changed_steps(
    checkout_events: list[WorkflowEvent], checkout_rerun_events: list[WorkflowEvent]
) -> None:
    diff = _devtools(checkout_events, checkout_rerun_events).diff_with_previous()

    assert diff is not None
    assert diff.added == ("audit",)
    assert diff.removed == ()
    assert [(c.name, c.status_before, c.status_after, c.status_changed) for c in diff.changed] == [
        ("charge", "success", "success", False),
        ("price", "cached", "success", True),
        ("notify", "skipped", "success", True),
        ("posts", "error", "success", True),
    ]
    charge = diff.changed[0]
    assert charge.duration_before_s == pytest.approx(0.4)
    assert charge.duration_after_s == pytest.approx(0.1)
    # load-user went from 100 ms to 105 ms: under the 20% threshold, not a change.
    assert "load-user" not in [c.name for c in diff.changed]


def test_render_diff_exact(
    checkout_events: list[WorkflowEvent], checkout_rerun_events: list[WorkflowEvent]
) -> None:
    devtools = _devtools(checkout_events, checkout_rerun_events)
    assert devtools.render_diff(devtools.diff_with_previous()) == (
        "+ audit\n"
        "~ charge: 400ms -> 100ms (-300ms)\n"
        "~ price: cached -> success, 0ms -> 10ms (+10ms)\n"
        "~ notify: skipped -> success, 0ms -> 85ms (+85ms)\n"
        "~ posts: error -> success, 300ms -> 150ms (-150ms)"
    )


def test_the_reverse_diff_removes_what_was_added(
    checkout_events: list[WorkflowEvent], checkout_rerun_events: list[WorkflowEvent]
) -> None:
    diff = diff_runs(record_run(checkout_rerun_events), record_run(checkout_events))
    assert (diff.added, diff.removed) == ((), ("audit",))
    assert render_diff(diff).startswith("- audit\n~ charge: 100ms -> 400ms (+300ms)")


def test_identical_runs_have_no_changes(checkout_events: list[WorkflowEvent]) -> None:
    run = record_run(checkout_events)
    diff = diff_runs(run, run)
    assert diff == RunDiff(added=(), removed=(), changed=())
    assert diff.empty
    assert render_diff(diff) == "no changes"


def test_repeated_labels_match_occurrence_by_occurrence(event_script: type) -> None:
    before = (
        event_script("wf-a").start("w").step("s1", "fetch", 0, 0.1).step("s2", "fetch", 0.1, 0.2)
    )
    after = event_script("wf-b").start("w").step("s1", "fetch", 0, 0.1)
    after.step("s2", "fetch", 0.1, 0.5).step("s3", "fetch", 0.5, 0.6)
    diff = diff_runs(record_run(before.events), record_run(after.events))

    assert diff.added == ("fetch",)
    assert [(c.name, c.duration_after_s) for c in diff.changed] == [("fetch", pytest.approx(0.4))]


def test_threshold_controls_duration_changes(event_script: type) -> None:
    before = record_run(event_script("a").start("w").step("s1", "x", 0, 0.100).events)
    after = record_run(event_script("b").start("w").step("s1", "x", 0, 0.115).events)

    assert diff_runs(before, after).changed == ()
    assert [c.name for c in diff_runs(before, after, duration_threshold=0.1).changed] == ["x"]
    with pytest.raises(ValueError, match="duration_threshold"):
        diff_runs(before, after, duration_threshold=-1)


def test_a_step_that_stops_finishing_shows_its_missing_duration() -> None:
    change = StepChange("x", "success", "running", 0.2, None)
    assert render_diff(RunDiff(added=(), removed=(), changed=(change,))) == (
        "~ x: success -> running, 200ms -> -"
    )


def test_no_previous_run_of_the_same_workflow_means_no_diff(
    checkout_events: list[WorkflowEvent], event_script: type
) -> None:
    assert Devtools().diff_with_previous() is None
    assert _devtools(checkout_events).diff_with_previous() is None
    other = event_script("wf-o").start("other-workflow").step("s1", "a", 0, 1).events
    devtools = _devtools(checkout_events, other)
    assert devtools.diff_with_previous() is None
    assert devtools.render_diff(None) == "no previous run to compare with"
