"""timeline() data and render_timeline() bars."""

from __future__ import annotations

import re

import pytest

from resultflow.devtools import (
    NO_RUN_TEXT,
    Devtools,
    TimelineEntry,
    record_run,
    render_timeline,
    timeline,
)
from resultflow.events import StepStarted, WorkflowEvent

_ROW = re.compile(
    r"^(?P<name>.+?) +\|(?P<bar>[^|]*)\| +(?P<start>\S+) +(?P<duration>\S+) (?P<rest>.*)$"
)


def test_timeline_entries_are_relative_to_the_run_start(
    checkout_events: list[WorkflowEvent],
) -> None:
    devtools = Devtools()
    for event in checkout_events:
        devtools.handle_event(event)

    assert devtools.timeline() == [
        TimelineEntry("load-user", 0.0, 0.1, "success"),
        TimelineEntry("charge", 0.1, 0.5, "success"),
        TimelineEntry("price", 0.5, 0.5, "cached"),
        TimelineEntry("notify", 0.5, 0.5, "skipped"),
        TimelineEntry("user", 0.5, 0.7, "success"),
        TimelineEntry("posts", 0.5, 0.8, "error"),
    ]


def test_timeline_orders_by_start_and_leaves_unfinished_steps_open(event_script: type) -> None:
    s = event_script("wf-o").start("w")
    s.step("s1", "second", 0.3, 0.4)
    s.step("s2", "first", 0.1, 0.2)
    s.add(StepStarted(workflow_id="wf-o", ts=s.at(0.25), step_id="s3", name="open"))

    assert timeline(record_run(s.events)) == [
        TimelineEntry("first", 0.1, 0.2, "success"),
        TimelineEntry("open", 0.25, None, "running"),
        TimelineEntry("second", 0.3, 0.4, "success"),
    ]


def test_render_timeline_scales_bars_to_the_run(checkout_events: list[WorkflowEvent]) -> None:
    text = render_timeline(record_run(checkout_events), width=40)
    header, *lines = text.splitlines()

    assert header == "checkout: 800ms, [err]"
    rows = [_ROW.match(line) for line in lines]
    assert all(rows), lines
    parsed = {m["name"]: m for m in rows if m}
    assert list(parsed) == ["load-user", "charge", "price", "notify", "user", "posts"]
    assert {len(m["bar"]) for m in parsed.values()} == {40}
    # 800 ms over 40 columns: 20 ms per column.
    assert parsed["load-user"]["bar"] == "=" * 5 + " " * 35
    assert parsed["charge"]["bar"] == " " * 5 + "=" * 20 + " " * 15
    assert parsed["price"]["bar"] == " " * 25 + "*" + " " * 14
    assert parsed["notify"]["bar"] == " " * 25 + "-" + " " * 14
    assert parsed["user"]["bar"] == " " * 25 + "=" * 10 + " " * 5
    assert parsed["posts"]["bar"] == " " * 25 + "x" * 15
    assert (parsed["charge"]["start"], parsed["charge"]["duration"], parsed["charge"]["rest"]) == (
        "100ms",
        "400ms",
        "[ok] (2 retries)",
    )
    assert parsed["posts"]["rest"] == "[err]"


def test_render_timeline_exact_small_run(event_script: type) -> None:
    s = event_script("wf-s").start("tiny")
    s.step("s1", "a", 0.0, 0.5)
    s.step("s2", "a-very-long-step-name-that-is-cut", 0.5, 1.0)
    s.add(StepStarted(workflow_id="wf-s", ts=s.at(1.0), step_id="s3", name="waiting"))
    s.step("s4", "late", 2.0, 2.0)

    assert render_timeline(record_run(s.events), width=10) == (
        "tiny: 2.00s, [running]\n"
        "a                        |===       |      0ms    500ms [ok]\n"
        "a-very-long-step-name... |  ===     |    500ms    500ms [ok]\n"
        "waiting                  |     >>>>>|    1.00s      ... [running]\n"
        "late                     |         =|    2.00s      0ms [ok]"
    )


def test_a_zero_length_run_and_no_steps(event_script: type) -> None:
    s = event_script("wf-z").start("instant").step("s1", "a", 0, 0)
    assert render_timeline(record_run(s.events), width=10).splitlines()[1] == (
        "a |=         |      0ms      0ms [ok]"
    )
    empty = event_script("wf-e").start("empty").events
    assert render_timeline(record_run(empty)) == "empty: 0ms, [running]\n(no steps)"
    assert Devtools().render_timeline() == NO_RUN_TEXT
    assert Devtools().timeline() == []


def test_width_must_leave_room_for_bars(checkout_events: list[WorkflowEvent]) -> None:
    with pytest.raises(ValueError, match="width"):
        render_timeline(record_run(checkout_events), width=3)
