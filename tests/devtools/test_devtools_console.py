"""console_logger: one line per event, colors only for terminals and without NO_COLOR."""

from __future__ import annotations

import io

import pytest

from resultflow.devtools import colors_enabled, console_logger, describe_event
from resultflow.errors import UnexpectedError
from resultflow.events import (
    HookShouldRun,
    ScopeStarted,
    StepCacheHit,
    StepFailed,
    StepRetrying,
    StepStarted,
    StepSucceeded,
    StepTimedOut,
    WorkflowEvent,
    WorkflowStarted,
)

ANSI = "\x1b["


class TerminalStream(io.StringIO):
    """A StringIO that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _feed(sink: object, events: list[WorkflowEvent]) -> None:
    for event in events:
        sink(event, None)  # type: ignore[operator]


def test_plain_lines_one_per_event(checkout_events: list[WorkflowEvent]) -> None:
    stream = io.StringIO()
    _feed(console_logger(stream=stream), checkout_events)

    lines = stream.getvalue().splitlines()
    assert len(lines) == len(checkout_events)
    assert lines[:4] == [
        "[resultflow] wf-1 workflow_start checkout",
        "[resultflow] wf-1 step_start load-user",
        "[resultflow] wf-1 step_success load-user 100ms",
        "[resultflow] wf-1 step_cache_miss charge (key=charge:7)",
    ]
    assert lines[5] == (
        "[resultflow] wf-1 step_retry charge (key=charge:7) attempt 2 in 50ms "
        "after CardDeclined(reason='busy')"
    )
    assert lines[-1] == "[resultflow] wf-1 workflow_error 800ms PostsNotFound(user_id='7')"
    assert ANSI not in stream.getvalue()


def test_terminals_get_colors_unless_no_color(
    monkeypatch: pytest.MonkeyPatch, checkout_events: list[WorkflowEvent]
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = TerminalStream()
    _feed(console_logger(prefix="rf", stream=stream), checkout_events[:3])
    lines = stream.getvalue().splitlines()
    assert lines[2] == "\x1b[2mrf wf-1\x1b[0m \x1b[32mstep_success\x1b[0m load-user 100ms"
    assert lines[0].startswith("\x1b[2mrf wf-1\x1b[0m \x1b[36mworkflow_start\x1b[0m")

    monkeypatch.setenv("NO_COLOR", "1")
    quiet = TerminalStream()
    _feed(console_logger(prefix="rf", stream=quiet), checkout_events[:3])
    assert quiet.getvalue().splitlines()[2] == "rf wf-1 step_success load-user 100ms"


def test_an_empty_no_color_does_not_disable_colors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "")
    assert colors_enabled(TerminalStream())
    monkeypatch.setenv("NO_COLOR", "0")  # any non-empty value disables them
    assert not colors_enabled(TerminalStream())


def test_colors_false_and_odd_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    event = WorkflowStarted(workflow_id="abcdefghijkl", ts=0.0, name="w")
    stream = TerminalStream()
    console_logger(colors=False, stream=stream)(event, None)
    assert stream.getvalue() == "[resultflow] abcdefgh workflow_start w\n"

    closed = io.StringIO()
    closed.close()  # isatty() now raises ValueError
    assert not colors_enabled(closed)
    assert not colors_enabled(object())  # type: ignore[arg-type]


def test_failures_are_red_and_retries_yellow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = TerminalStream()
    sink = console_logger(prefix="", stream=stream)
    common = {"workflow_id": "w", "ts": 0.0, "step_id": "s1", "name": "pay"}
    sink(StepFailed(**common, error="boom", duration_s=0.5), None)  # type: ignore[arg-type]
    sink(StepRetrying(**common, attempt=2, delay_s=1.0, error="boom"), None)  # type: ignore[arg-type]
    sink(StepTimedOut(**common, seconds=2.0), None)  # type: ignore[arg-type]
    sink(StepCacheHit(**common), None)  # type: ignore[arg-type]
    colors = [line.split(" ")[1][:5] for line in stream.getvalue().splitlines()]
    assert colors == ["\x1b[31m", "\x1b[33m", "\x1b[31m", "\x1b[34m"]


def test_default_stream_is_stderr_at_call_time(capsys: pytest.CaptureFixture[str]) -> None:
    sink = console_logger()
    sink(WorkflowStarted(workflow_id="w1", ts=0.0, name="late-bound"), None)
    captured = capsys.readouterr()
    assert captured.err == "[resultflow] w1 workflow_start late-bound\n"
    assert captured.out == ""


def test_describe_event_covers_details() -> None:
    common = {"workflow_id": "w", "ts": 0.0, "step_id": "s1", "name": "pay", "key": "pay:1"}
    crash = UnexpectedError(exception_type="builtins.KeyError", message="'id'")
    assert describe_event(StepFailed(**common, error=crash, duration_s=0.25)) == (  # type: ignore[arg-type]
        "step_error pay (key=pay:1) 250ms UnexpectedError: builtins.KeyError: 'id'"
    )
    assert describe_event(StepSucceeded(workflow_id="w", ts=0.0, step_id="s9")) == (
        "step_success s9 0ms"
    )
    assert describe_event(
        HookShouldRun(workflow_id="w", ts=0.0, duration_s=0.001, result=True)
    ) == ("hook_should_run 1.00ms -> True")
    long_error = "x" * 500
    described = describe_event(StepFailed(**common, error=long_error))  # type: ignore[arg-type]
    assert described.endswith("...") and len(described) < 200


def test_names_with_line_breaks_stay_on_one_line() -> None:
    forged = "pay\n[resultflow] fake-run workflow_success"
    lines = io.StringIO()
    sink = console_logger(stream=lines, colors=False)
    sink(StepStarted(workflow_id="run-1", ts=0.0, step_id="s1", name=forged, key="k\r\n2"), None)
    sink(ScopeStarted(workflow_id="run-1", ts=0.0, scope_id="s2", kind="all", name="a\nb"), None)
    assert lines.getvalue().splitlines() == [
        "[resultflow] run-1 step_start pay [resultflow] fake-run workflow_success (key=k 2)",
        "[resultflow] run-1 scope_start all a b",
    ]
