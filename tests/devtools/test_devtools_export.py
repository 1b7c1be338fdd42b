"""export_run / import_run: the JSON round trip and the validation of bad input."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resultflow.devtools import (
    Devtools,
    RunImportError,
    RunRecord,
    StepRecord,
    export_run,
    import_run,
    record_run,
)
from resultflow.events import WorkflowEvent


def test_round_trip_keeps_the_run_exactly(checkout_events: list[WorkflowEvent]) -> None:
    run = record_run(checkout_events)
    text = export_run(run)

    document = json.loads(text)
    assert (document["format"], document["version"]) == ("resultflow.run", 1)
    assert import_run(text) == run
    assert import_run(text.encode()) == run


def test_import_adds_the_run_to_the_history_and_renders_the_same(
    checkout_events: list[WorkflowEvent],
) -> None:
    source = Devtools()
    for event in checkout_events:
        source.handle_event(event)
    text = source.export_run(indent=2)

    target = Devtools(max_history=2)
    imported = target.import_run(text)

    assert target.runs() == (imported,)
    assert target.render() == source.render()
    assert target.render_mermaid() == source.render_mermaid()
    assert target.render_timeline() == source.render_timeline()
    # Imported runs count towards max_history like recorded ones.
    target.import_run(text)
    target.import_run(text)
    assert len(target.runs()) == 2


def test_export_needs_a_run() -> None:
    with pytest.raises(LookupError, match="no run recorded"):
        Devtools().export_run()


_statuses = st.sampled_from(["running", "success", "error", "cached", "skipped", "aborted"])
_times = st.floats(min_value=0, max_value=2e9, allow_nan=False)
_optional_text = st.none() | st.text(max_size=20)


@given(
    st.lists(
        st.builds(
            StepRecord,
            step_id=st.text(min_size=1, max_size=8),
            name=_optional_text,
            key=_optional_text,
            parent_id=_optional_text,
            status=_statuses,
            start_ts=_times,
            end_ts=st.none() | _times,
            duration_s=st.none() | _times,
            cache_hit=st.booleans(),
            retries=st.integers(min_value=0, max_value=10),
            timed_out=st.booleans(),
            error=_optional_text,
            error_tag=_optional_text,
            reason=_optional_text,
            compensation=st.booleans(),
        ),
        max_size=5,
        unique_by=lambda step: step.step_id,
    ),
    _optional_text,
)
def test_any_run_survives_the_round_trip(steps: list[StepRecord], name: str | None) -> None:
    run = RunRecord(workflow_id="wf", name=name, started_at=1.5, nodes=tuple(steps))
    assert import_run(export_run(run)) == run


def _valid_document(checkout_events: list[WorkflowEvent]) -> dict[str, object]:
    document: dict[str, object] = json.loads(export_run(record_run(checkout_events)))
    return document


def _set(path: list[object], value: object) -> Callable[[dict[str, object]], None]:
    def edit(document: dict[str, object]) -> None:
        target: object = document
        for part in path[:-1]:
            target = target[part]  # type: ignore[index]
        target[path[-1]] = value  # type: ignore[index]

    return edit


def _delete(path: list[object]) -> Callable[[dict[str, object]], None]:
    def edit(document: dict[str, object]) -> None:
        target: object = document
        for part in path[:-1]:
            target = target[part]  # type: ignore[index]
        del target[path[-1]]  # type: ignore[union-attr]

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_set(["format"], "something-else"), "document.format: expected 'resultflow.run'"),
        (_set(["version"], 99), "document.version: unsupported version 99"),
        (_set(["version"], "1"), "document.version: expected an integer, got a string"),
        (_delete(["run"]), "document.run: missing"),
        (_set(["run"], []), "run: expected an object, got a list"),
        (_set(["extra"], 1), r"document: unknown field\(s\) extra"),
        (_set(["run", "status"], "exploded"), "run.status: expected one of 'running'"),
        (
            _set(["run", "started_at"], "yesterday"),
            "run.started_at: expected a number, got a string",
        ),
        (_set(["run", "started_at"], True), "run.started_at: expected a number, got a boolean"),
        (_set(["run", "workflow_id"], ""), "run.workflow_id: expected a non-empty string"),
        (_set(["run", "nodes"], {}), "run.nodes: expected a list, got an object"),
        (_set(["run", "nodes", 2], "step"), r"run.nodes\[2\]: expected an object, got a string"),
        (_set(["run", "nodes", 1, "node"], "task"), r"run.nodes\[1\].node: expected one of"),
        (_set(["run", "nodes", 1, "retries"], -1), r"run.nodes\[1\].retries: must be >= 0"),
        (_set(["run", "nodes", 1, "retries"], 1.5), r"run.nodes\[1\].retries: expected an integer"),
        (
            _set(["run", "nodes", 1, "cache_hit"], "no"),
            r"run.nodes\[1\].cache_hit: expected a boolean",
        ),
        (_set(["run", "nodes", 1, "surprise"], 1), r"run.nodes\[1\]: unknown field\(s\) surprise"),
        (_delete(["run", "nodes", 0, "start_ts"]), r"run.nodes\[0\].start_ts: missing"),
        (_set(["run", "nodes", 4, "status"], "cached"), r"run.nodes\[4\].status: expected one of"),
        (_set(["run", "nodes", 1, "step_id"], "s1"), r"run.nodes\[1\]: duplicate node id 's1'"),
        (_set(["run", "nodes", 0, "name"], 5), r"run.nodes\[0\].name: expected a string or null"),
    ],
)
def test_bad_documents_are_rejected_with_the_path(
    checkout_events: list[WorkflowEvent],
    edit: Callable[[dict[str, object]], None],
    message: str,
) -> None:
    document = _valid_document(checkout_events)
    edit(document)
    devtools = Devtools()

    with pytest.raises(RunImportError, match=message):
        devtools.import_run(json.dumps(document))
    assert devtools.runs() == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        ("[1, 2]", "document: expected an object, got a list"),
        ("null", "document: expected an object, got null"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (
            '{"format": "resultflow.run", "version": 1, "run": {"nodes": [], "workflow_id": "w",'
            ' "name": null, "status": "running", "started_at": NaN}}',
            "run.started_at: expected a finite number",
        ),
    ],
)
def test_malformed_text_is_a_value_error(text: str | bytes, message: str) -> None:
    with pytest.raises(RunImportError, match=message) as caught:
        import_run(text)
    assert isinstance(caught.value, ValueError)
