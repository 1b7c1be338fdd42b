"""The event classes: frozen dataclasses with a `type` tag, built by a fast __init__."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from resultflow import Ok
from resultflow.events import StepCompleted, StepStarted, WorkflowEvent, WorkflowStarted


def test_every_event_is_a_frozen_dataclass_with_a_distinct_type_tag() -> None:
    classes = typing.get_args(WorkflowEvent)
    tags = set()
    for cls in classes:
        assert dataclasses.is_dataclass(cls)
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert params.frozen
        type_field = next(f for f in dataclasses.fields(cls) if f.name == "type")
        assert type_field.init is False
        tags.add(type_field.default)
    assert len(tags) == len(classes) == 31


def test_construction_defaults_equality_and_immutability() -> None:
    event = StepStarted(workflow_id="w", ts=1.5, step_id="s1")
    assert event == StepStarted(workflow_id="w", ts=1.5, step_id="s1", context=None)
    assert hash(event) == hash(StepStarted(workflow_id="w", ts=1.5, step_id="s1"))
    assert (event.type, event.name, event.key, event.parent_id) == ("step_start", None, None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.ts = 2.0  # type: ignore[misc]
    assert dataclasses.replace(event, ts=3.0).ts == 3.0
    assert dataclasses.asdict(WorkflowStarted(workflow_id="w", ts=0.0, name="n")) == {
        "workflow_id": "w",
        "ts": 0.0,
        "context": None,
        "type": "workflow_start",
        "name": "n",
    }


def test_missing_and_unknown_arguments_are_type_errors() -> None:
    with pytest.raises(TypeError, match="step_id"):
        StepStarted(workflow_id="w", ts=1.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        StepStarted(workflow_id="w", ts=1.0, step_id="s", bogus=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        StepStarted("w", 1.0, None, "s")  # type: ignore[misc]


def test_default_factories_give_each_event_its_own_value() -> None:
    first = StepCompleted(workflow_id="w", ts=0.0, step_id="s", key="k", result=Ok(1))
    second = StepCompleted(workflow_id="w", ts=0.0, step_id="s", key="k", result=Ok(1))
    assert first.meta == {} == second.meta
    assert first.meta is not second.meta
