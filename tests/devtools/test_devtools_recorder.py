"""RunRecorder / Devtools: how events fold into run records and the run history."""

from __future__ import annotations

import pytest

from resultflow.devtools import Devtools, RunRecord, ScopeRecord, StepRecord, record_run
from resultflow.errors import UnexpectedError
from resultflow.events import (
    CompensationFailed,
    CompensationStarted,
    CompensationSucceeded,
    HookBeforeStepError,
    HookShouldRun,
    StepAborted,
    StepStarted,
    StepTimedOut,
    WorkflowCancelled,
    WorkflowEvent,
    WorkflowSkipped,
    WorkflowSucceeded,
)

T0 = 1_700_000_000.0


def _devtools_with(*runs: list[WorkflowEvent], **options: object) -> Devtools:
    devtools = Devtools(**options)  # type: ignore[arg-type]
    for events in runs:
        for event in events:
            devtools.handle_event(event, None)
    return devtools


def _step(run: RunRecord, step_id: str) -> StepRecord:
    (step,) = [s for s in run.steps if s.step_id == step_id]
    return step


def test_a_run_records_every_step_with_status_times_and_details(
    checkout_events: list[WorkflowEvent],
) -> None:
    run = record_run(checkout_events)

    assert (run.workflow_id, run.name, run.status) == ("wf-1", "checkout", "error")
    assert run.started_at == T0
    assert run.ended_at == pytest.approx(T0 + 0.8)
    assert run.duration_s == pytest.approx(0.8)
    assert run.error == "PostsNotFound(user_id='7')"
    assert run.error_tag == "PostsNotFound"
    assert [s.step_id for s in run.steps] == ["s1", "s2", "s3", "s4", "s6", "s7"]
    assert [s.status for s in run.steps] == [
        "success",
        "success",
        "cached",
        "skipped",
        "success",
        "error",
    ]

    charge = _step(run, "s2")
    assert (charge.name, charge.key, charge.retries, charge.cache_hit) == (
        "charge",
        "charge:7",
        2,
        False,
    )
    assert charge.start_ts == pytest.approx(T0 + 0.1)
    assert charge.end_ts == pytest.approx(T0 + 0.5)
    assert charge.duration_s == pytest.approx(0.4)

    price = _step(run, "s3")
    assert (price.cache_hit, price.duration_s, price.start_ts, price.end_ts) == (
        True,
        0.0,
        T0 + 0.5,
        T0 + 0.5,
    )
    notify = _step(run, "s4")
    assert (notify.status, notify.reason) == ("skipped", "no email address")
    posts = _step(run, "s7")
    assert (posts.parent_id, posts.error_tag, posts.error) == (
        "s5",
        "PostsNotFound",
        "PostsNotFound(user_id='7')",
    )


def test_scopes_form_a_tree_with_children_in_order(checkout_events: list[WorkflowEvent]) -> None:
    run = record_run(checkout_events)

    (scope,) = run.scopes
    assert (scope.scope_id, scope.kind, scope.name, scope.status) == ("s5", "all", "fetch", "error")
    assert scope.duration_s == pytest.approx(0.3)
    top = run.children(None)
    assert [n.step_id if isinstance(n, StepRecord) else n.scope_id for n in top] == [
        "s1",
        "s2",
        "s3",
        "s4",
        "s5",
    ]
    assert [n.label for n in run.children("s5")] == ["user", "posts"]
    assert run.children("s1") == ()


def test_nested_scopes_and_unknown_parents(event_script: type) -> None:
    from resultflow.events import ScopeStarted

    s = event_script("wf-n")
    s.start("nested")
    s.add(ScopeStarted(workflow_id="wf-n", ts=s.at(0), scope_id="s1", kind="all", name="outer"))
    s.add(
        ScopeStarted(
            workflow_id="wf-n", ts=s.at(0), scope_id="s2", kind="map", name="items", parent_id="s1"
        )
    )
    s.step("s3", "items[0]", 0, 0.1, parent_id="s2")
    s.step("s4", "side", 0, 0.1, parent_id="s1")
    s.step("s5", "orphan", 0.1, 0.2, parent_id="nowhere")
    # A parent id naming a step puts the node next to that step.
    s.step("s6", "inner", 0.0, 0.05, parent_id="s3")
    run = record_run(s.events)

    assert [n.label for n in run.children(None)] == ["all outer", "orphan"]
    assert [n.label for n in run.children("s1")] == ["map items", "side"]
    assert [n.label for n in run.children("s2")] == ["items[0]", "inner"]
    assert all(isinstance(n, ScopeRecord) for n in run.children(None)[:1])


def test_a_parent_cycle_in_hand_made_data_loses_no_node() -> None:
    run = RunRecord(
        workflow_id="w",
        started_at=0.0,
        nodes=(
            ScopeRecord(scope_id="a", kind="all", parent_id="b", start_ts=0.0),
            ScopeRecord(scope_id="b", kind="all", parent_id="a", start_ts=0.0),
            StepRecord(step_id="c", parent_id="a", start_ts=0.0),
        ),
    )
    tree = run.tree()
    placed = [node for nodes in tree.values() for node in nodes]
    assert len(placed) == 3
    assert {n.label for n in tree[None]} == {"all", "c"}


def test_label_falls_back_from_name_to_key_to_step_id() -> None:
    assert StepRecord(step_id="s1", name="n", key="k", start_ts=0).label == "n"
    assert StepRecord(step_id="s1", key="k", start_ts=0).label == "k"
    assert StepRecord(step_id="s1", start_ts=0).label == "s1"
    assert StepRecord(step_id="c1", name="charge", compensation=True, start_ts=0).label == (
        "compensate charge"
    )
    assert ScopeRecord(scope_id="s1", kind="race", start_ts=0).label == "race"


def test_timeouts_aborts_and_hook_failures_are_recorded(event_script: type) -> None:
    s = event_script("wf-t")
    s.start(None)
    s.add(StepStarted(workflow_id="wf-t", ts=s.at(0), step_id="s1", name="slow"))
    s.add(StepTimedOut(workflow_id="wf-t", ts=s.at(1), step_id="s1", name="slow", seconds=1.0))
    s.add(StepStarted(workflow_id="wf-t", ts=s.at(0), step_id="s2", name="sibling"))
    s.add(
        StepAborted(
            workflow_id="wf-t", ts=s.at(0.5), step_id="s2", name="sibling", reason="sibling failed"
        )
    )
    hook_error = UnexpectedError(exception_type="PermissionError", message="denied")
    s.add(
        HookBeforeStepError(
            workflow_id="wf-t", ts=s.at(1), step_id="s3", duration_s=0.01, error=hook_error
        )
    )
    run = record_run(s.events, name="fallback-name")

    assert run.name == "fallback-name"
    assert run.status == "running"
    slow, sibling, guarded = run.steps
    assert (slow.timed_out, slow.status, slow.end_ts) == (True, "running", None)
    assert (sibling.status, sibling.reason, sibling.duration_s) == (
        "aborted",
        "sibling failed",
        pytest.approx(0.5),
    )
    assert guarded.status == "error"
    assert guarded.error == ("on_before_step raised UnexpectedError: PermissionError: denied")


def test_compensations_become_steps_after_the_step_they_undo(event_script: type) -> None:
    s = event_script("wf-c")
    s.start("saga")
    s.step("s1", "reserve", 0, 0.1)
    s.step("s2", "charge", 0.1, 0.2, error=UnexpectedError(exception_type="E", message="x"))
    s.add(CompensationStarted(workflow_id="wf-c", ts=s.at(0.2), name="reserve", step_id="s1"))
    s.add(
        CompensationSucceeded(
            workflow_id="wf-c", ts=s.at(0.3), name="reserve", duration_s=0.1, step_id="s1"
        )
    )
    s.add(CompensationStarted(workflow_id="wf-c", ts=s.at(0.3), name="email"))
    s.add(
        CompensationFailed(
            workflow_id="wf-c", ts=s.at(0.35), name="email", duration_s=0.05, error="smtp down"
        )
    )
    run = record_run(s.events)

    undo_reserve, undo_email = run.steps[2:]
    assert (undo_reserve.label, undo_reserve.status, undo_reserve.compensation) == (
        "compensate reserve",
        "success",
        True,
    )
    assert undo_reserve.duration_s == pytest.approx(0.1)
    assert (undo_email.label, undo_email.status, undo_email.error) == (
        "compensate email",
        "error",
        "smtp down",
    )


def test_record_run_needs_events() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        record_run([])


# -- Devtools history -------------------------------------------------------------------
def test_each_workflow_start_begins_a_new_run(
    checkout_events: list[WorkflowEvent], checkout_rerun_events: list[WorkflowEvent]
) -> None:
    devtools = _devtools_with(checkout_events, checkout_rerun_events)

    assert [r.workflow_id for r in devtools.runs()] == ["wf-1", "wf-2"]
    last = devtools.last_run()
    assert last is not None
    assert (last.workflow_id, last.status) == ("wf-2", "success")


def test_history_keeps_at_most_max_history_runs(event_script: type) -> None:
    devtools = Devtools(max_history=2)
    for index in range(4):
        for event in event_script(f"wf-{index}").start("w").step("s1", "a", 0, 1).events:
            devtools.handle_event(event)

    assert [r.workflow_id for r in devtools.runs()] == ["wf-2", "wf-3"]
    with pytest.raises(ValueError, match="max_history"):
        Devtools(max_history=0)


def test_a_long_run_outlives_quicker_runs_that_started_after_it(event_script: type) -> None:
    devtools = Devtools(max_history=2)
    long_run = event_script("wf-long").start("long").step("s1", "first", 0, 1)
    long_run.step("s2", "second", 5, 6)
    long_run.add(WorkflowSucceeded(workflow_id="wf-long", ts=long_run.at(6), duration_s=6.0))
    for event in long_run.events[:3]:  # started, and its first step ran
        devtools.handle_event(event)
    for index in range(3):  # quick runs start and finish meanwhile
        quick = event_script(f"wf-{index}", t0=T0 + index).start("quick").step("s1", "q", 0, 1)
        quick.add(WorkflowSucceeded(workflow_id=f"wf-{index}", ts=quick.at(1), duration_s=1.0))
        for event in quick.events:
            devtools.handle_event(event)
    for event in long_run.events[3:]:
        devtools.handle_event(event)

    assert [r.workflow_id for r in devtools.runs()] == ["wf-long", "wf-2"]
    long_record = devtools.runs()[0]
    assert (long_record.name, long_record.status) == ("long", "success")
    assert [s.label for s in long_record.steps] == ["first", "second"]
    # Once it finished, it is the oldest finished run: the next run replaces it.
    for event in event_script("wf-next").start("quick").events:
        devtools.handle_event(event)
    assert [r.workflow_id for r in devtools.runs()] == ["wf-2", "wf-next"]


def test_interleaved_concurrent_runs_stay_apart(event_script: type) -> None:
    a = event_script("wf-a").start("w").step("s1", "a1", 0, 1).step("s2", "a2", 1, 2).events
    b = event_script("wf-b").start("w").step("s1", "b1", 0, 1).events
    devtools = Devtools()
    for event in [a[0], b[0], a[1], b[1], a[2], b[2], *a[3:]]:
        devtools.handle_event(event)

    run_a, run_b = devtools.runs()
    assert [s.label for s in run_a.steps] == ["a1", "a2"]
    assert [s.label for s in run_b.steps] == ["b1"]
    assert all(s.status == "success" for s in run_a.steps + run_b.steps)


def test_a_run_seen_mid_way_is_recorded_from_its_first_event(event_script: type) -> None:
    events = event_script("wf-late").step("s4", "tail", 2.0, 3.0).events
    devtools = Devtools(workflow_name="resumed")
    for event in events:
        devtools.handle_event(event)

    run = devtools.last_run()
    assert run is not None
    assert (run.name, run.started_at, run.status) == ("resumed", T0 + 2.0, "running")
    assert [s.label for s in run.steps] == ["tail"]


def test_a_skipped_run_and_pre_start_hooks(event_script: type) -> None:
    devtools = Devtools()
    devtools.handle_event(HookShouldRun(workflow_id="wf-s", ts=T0, duration_s=0.0, result=False))
    assert devtools.runs() == ()
    devtools.handle_event(WorkflowSkipped(workflow_id="wf-s", ts=T0, reason="should_run"))

    (run,) = devtools.runs()
    assert (run.status, run.error, run.duration_s) == ("skipped", "should_run", 0.0)


def test_late_events_go_to_the_finished_run_not_a_new_one(event_script: type) -> None:
    s = event_script("wf-l").start("w")
    s.add(WorkflowCancelled(workflow_id="wf-l", ts=s.at(1), duration_s=1.0, reason="shutdown"))
    s.add(
        StepAborted(workflow_id="wf-l", ts=s.at(1), step_id="s1", name="slow", reason="cancelled")
    )
    devtools = _devtools_with(s.events)

    (run,) = devtools.runs()
    assert (run.status, run.error) == ("cancelled", "shutdown")
    assert [(st.label, st.status) for st in run.steps] == [("slow", "aborted")]


def test_runs_are_snapshots_and_clear_forgets_them(checkout_events: list[WorkflowEvent]) -> None:
    devtools = _devtools_with(checkout_events[:4])
    before = devtools.last_run()
    for event in checkout_events[4:]:
        devtools.handle_event(event)
    after = devtools.last_run()

    assert before is not None and after is not None
    assert (before.status, len(before.steps)) == ("running", 2)
    assert (after.status, len(after.steps)) == ("error", 6)
    devtools.clear()
    assert devtools.runs() == () and devtools.last_run() is None
