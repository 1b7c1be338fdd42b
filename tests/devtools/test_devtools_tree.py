"""render_tree / Devtools.render: exact ASCII output."""

from __future__ import annotations

from resultflow.devtools import NO_RUN_TEXT, Devtools, format_duration, record_run, render_tree
from resultflow.events import ScopeStarted, StepSkipped, StepStarted, WorkflowEvent

CHECKOUT_TREE = """\
workflow checkout [err] 800ms: PostsNotFound(user_id='7')
|-- [ok] load-user 100ms
|-- [ok] charge (key=charge:7) 400ms (2 retries)
|-- [cached] price (key=price:7)
|-- [skipped] notify: no email address
`-- [err] all fetch 300ms
    |-- [ok] user 200ms
    `-- [err] posts 300ms: PostsNotFound(user_id='7')"""


def test_render_draws_the_last_run_as_an_exact_tree(checkout_events: list[WorkflowEvent]) -> None:
    devtools = Devtools()
    for event in checkout_events:
        devtools.handle_event(event, None)

    assert devtools.render() == CHECKOUT_TREE


def test_render_of_a_chosen_run(
    checkout_events: list[WorkflowEvent], checkout_rerun_events: list[WorkflowEvent]
) -> None:
    devtools = Devtools()
    for event in [*checkout_events, *checkout_rerun_events]:
        devtools.handle_event(event)
    first, second = devtools.runs()

    assert devtools.render(first) == CHECKOUT_TREE
    assert devtools.render() == render_tree(second)
    assert render_tree(second).splitlines()[-2:] == [
        "|   `-- [ok] posts 150ms",
        "`-- [ok] audit 100ms",
    ]


def test_nested_scopes_are_indented_under_their_parents(event_script: type) -> None:
    s = event_script("wf-n")
    s.start("nested")
    s.add(
        ScopeStarted(workflow_id="wf-n", ts=s.at(0), scope_id="s1", kind="parallel", name="outer")
    )
    s.add(ScopeStarted(workflow_id="wf-n", ts=s.at(0), scope_id="s2", kind="map", parent_id="s1"))
    s.step("s3", "items[0]", 0, 0.002, parent_id="s2")
    s.step("s4", "items[1]", 0, 0.004, parent_id="s2")
    s.step("s5", "side", 0, 0.05, parent_id="s1")
    s.step("s6", "after", 0.05, 1.5)
    s.add(StepStarted(workflow_id="wf-n", ts=s.at(1.5), step_id="s7", name="pending"))

    assert render_tree(record_run(s.events)) == (
        "workflow nested [running]\n"
        "|-- [running] parallel outer\n"
        "|   |-- [running] map\n"
        "|   |   |-- [ok] items[0] 2.00ms\n"
        "|   |   `-- [ok] items[1] 4.00ms\n"
        "|   `-- [ok] side 50ms\n"
        "|-- [ok] after 1.45s\n"
        "`-- [running] pending"
    )


def test_a_run_without_a_name_is_labelled_by_its_id(event_script: type) -> None:
    events = event_script("3f2a9c1e-0000").start(None).step("s1", None, 0, 0.1, key="k1").events
    assert render_tree(record_run(events)) == (
        "workflow 3f2a9c1e-0000 [running]\n`-- [ok] k1 100ms"
    )


def test_render_before_any_run() -> None:
    assert Devtools().render() == NO_RUN_TEXT


def test_format_duration_picks_a_readable_unit() -> None:
    assert [
        format_duration(s) for s in (0.0, 0.00035, 0.0123, 0.12, 1.0, 59.994, 125.0, float("nan"))
    ] == ["0ms", "0.35ms", "12ms", "120ms", "1.00s", "59.99s", "2m05.0s", "?"]


def test_line_breaks_in_names_keys_and_reasons_stay_on_their_line(event_script: type) -> None:
    script = event_script("wf-nl").start("multi\nline").step("s1", "a\nb", 0, 0.1, key="k\n1")
    script.add(StepSkipped(workflow_id="wf-nl", ts=script.at(0.1), step_id="s2", reason="x\ny"))
    assert render_tree(record_run(script.events)) == (
        "workflow multi line [running]\n|-- [ok] a b (key=k 1) 100ms\n`-- [skipped] s2: x y"
    )
