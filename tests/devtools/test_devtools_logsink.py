"""logging_sink: structured records via `extra`, read by caplog and by structlog."""

from __future__ import annotations

import io
import json
import logging

import pytest

from resultflow.devtools import EVENT_LOGGER_NAME, event_fields, logging_sink
from resultflow.events import StepCompleted, StepFailed, StepSucceeded, WorkflowEvent
from resultflow.result import Err, Ok


def test_one_record_per_event_with_the_event_as_extra(
    caplog: pytest.LogCaptureFixture, checkout_events: list[WorkflowEvent]
) -> None:
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER_NAME)
    sink = logging_sink()
    for event in checkout_events:
        sink(event, None)

    records = [r for r in caplog.records if r.name == EVENT_LOGGER_NAME]
    assert len(records) == len(checkout_events)
    assert {r.levelno for r in records} == {logging.INFO}
    failed = records[-1]
    assert failed.getMessage() == "workflow_error 800ms PostsNotFound(user_id='7')"
    assert failed.resultflow_event_type == "workflow_error"  # type: ignore[attr-defined]
    assert failed.resultflow_workflow_id == "wf-1"  # type: ignore[attr-defined]
    assert failed.resultflow_event == {  # type: ignore[attr-defined]
        "type": "workflow_error",
        "workflow_id": "wf-1",
        "ts": 1_700_000_000.8,
        "context": None,
        "error": {"tag": "PostsNotFound", "message": "PostsNotFound(user_id='7')"},
        "duration_s": 0.8,
    }
    retry = next(r for r in records if r.resultflow_event_type == "step_retry")  # type: ignore[attr-defined]
    assert retry.resultflow_event["attempt"] == 2  # type: ignore[attr-defined]
    assert retry.resultflow_event["step_id"] == "s2"  # type: ignore[attr-defined]
    # Every payload is JSON-ready.
    for record in records:
        json.dumps(record.resultflow_event)  # type: ignore[attr-defined]


def test_custom_logger_and_level(
    caplog: pytest.LogCaptureFixture, checkout_events: list[WorkflowEvent]
) -> None:
    logger = logging.getLogger("tests.devtools.audit")
    caplog.set_level(logging.DEBUG, logger="tests.devtools.audit")
    logging_sink(logger, level=logging.DEBUG)(checkout_events[0], None)
    (record,) = [r for r in caplog.records if r.name == "tests.devtools.audit"]
    assert (record.levelno, record.getMessage()) == (logging.DEBUG, "workflow_start checkout")


def test_disabled_levels_build_nothing(
    caplog: pytest.LogCaptureFixture, checkout_events: list[WorkflowEvent]
) -> None:
    caplog.set_level(logging.WARNING, logger=EVENT_LOGGER_NAME)
    sink = logging_sink(level=logging.INFO)
    for event in checkout_events:
        sink(event, None)
    assert [r for r in caplog.records if r.name == EVENT_LOGGER_NAME] == []


def test_results_values_and_context_are_described_not_dumped() -> None:
    ok = StepCompleted(
        workflow_id="w",
        ts=1.0,
        step_id="s1",
        key="k",
        result=Ok({"id": 7}),
        meta={"at": object},
        context={"user": "ann"},
    )
    fields = event_fields(ok)
    assert fields["result"] == {"ok": True, "value": "{'id': 7}"}
    assert fields["meta"] == {"at": "<class 'object'>"}
    assert fields["context"] == "{'user': 'ann'}"
    failed = event_fields(StepCompleted(workflow_id="w", ts=1.0, step_id="s1", result=Err("nope")))
    assert failed["result"] == {"ok": False, "error": {"tag": "str", "message": "nope"}}


def test_structlog_stdlib_integration_renders_the_extras_as_json(
    checkout_events: list[WorkflowEvent],
) -> None:
    structlog = pytest.importorskip("structlog")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    logger = logging.getLogger("tests.devtools.structlog")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        sink = logging_sink(logger)
        for event in checkout_events[:3]:
            sink(event, None)
    finally:
        logger.removeHandler(handler)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["resultflow_event_type"] for line in lines] == [
        "workflow_start",
        "step_start",
        "step_success",
    ]
    assert lines[2]["event"] == "step_success load-user 100ms"
    assert lines[2]["level"] == "info"
    assert lines[2]["resultflow_event"]["name"] == "load-user"
    assert lines[2]["resultflow_event"]["duration_s"] == pytest.approx(0.1)
    assert lines[2]["resultflow_workflow_id"] == "wf-1"


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


def test_huge_and_unprintable_values_cost_little_and_never_raise(
    caplog: pytest.LogCaptureFixture,
) -> None:
    huge = list(range(1_000_000))
    event = StepSucceeded(workflow_id="w", ts=1.0, step_id="s1", duration_s=0.1, value=huge)
    # Cut by item while formatting (a full repr cut afterwards would end mid-number).
    assert event_fields(event)["value"] == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ...]"
    odd = StepSucceeded(workflow_id="w", ts=1.0, step_id="s2", duration_s=0.1, value=_Unprintable())
    failed = StepFailed(workflow_id="w", ts=1.0, step_id="s3", duration_s=0.1, error=_Unprintable())
    caplog.set_level(logging.INFO, logger=EVENT_LOGGER_NAME)
    sink = logging_sink()
    sink(odd, None)
    sink(failed, None)
    odd_record, failed_record = [r for r in caplog.records if r.name == EVENT_LOGGER_NAME]
    assert str(odd_record.resultflow_event["value"]).startswith("<_Unprintable instance at")  # type: ignore[attr-defined]
    assert failed_record.getMessage().startswith("step_error s3 100ms <_Unprintable instance")
